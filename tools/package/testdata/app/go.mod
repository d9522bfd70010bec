module example.com/tinyhandler

go 1.22

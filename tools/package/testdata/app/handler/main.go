// Command handler is a stand-in for the flowbricks handler: the packaging test builds it for real.
package main

import "fmt"

func main() { fmt.Println("tiny handler") }

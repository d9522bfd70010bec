package connector

import (
	"image"
	"image/color"
	"image/draw"
)

// IconSize is the icon's width and height in pixels: square, within the 100–230 px Power
// Platform shows connector icons at.
const IconSize = 230

// DrawIcon draws the connector's icon: a white wall of bricks (flow "bricks" on Databricks) on
// the brand colour. icon.png is this image; go test ./connector -run TestIcon -update rewrites it.
// Drawn in code so that the icon has a source and changes are reviewable.
func DrawIcon(brand color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, IconSize, IconSize))
	draw.Draw(img, img.Bounds(), &image.Uniform{brand}, image.Point{}, draw.Src)
	white := &image.Uniform{color.RGBA{0xff, 0xff, 0xff, 0xff}}

	// Three courses of bricks, the middle one offset by half a brick, centred in the icon.
	const (
		brickW, brickH = 48, 26
		gap            = 6
		courses        = 3
		perCourse      = 3
	)
	wallW := perCourse*brickW + (perCourse-1)*gap + brickW/2
	wallH := courses*brickH + (courses-1)*gap
	left, top := (IconSize-wallW)/2, (IconSize-wallH)/2
	for c := range courses {
		y := top + c*(brickH+gap)
		offset := 0
		if c%2 == 1 {
			offset = brickW / 2
		}
		for b := range perCourse {
			x := left + offset + b*(brickW+gap)
			draw.Draw(img, image.Rect(x, y, x+brickW, y+brickH), white, image.Point{}, draw.Src)
		}
		// Half bricks close the ends of the wall.
		if offset > 0 {
			draw.Draw(img, image.Rect(left, y, left+offset-gap, y+brickH), white, image.Point{}, draw.Src)
		} else {
			x := left + perCourse*(brickW+gap)
			draw.Draw(img, image.Rect(x, y, x+brickW/2-gap, y+brickH), white, image.Point{}, draw.Src)
		}
	}
	return img
}

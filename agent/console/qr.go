package console

import (
	"strings"

	"github.com/boombuler/barcode/qr"
)

// QRText renders content as a QR code for a terminal, two modules per
// character row with half blocks. Light modules are drawn as blocks (the
// terminal's foreground) and dark ones as blanks, which reads right on the
// usual dark terminal; a quiet zone of two modules surrounds it.
func QRText(content string) (string, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return "", err
	}
	const quiet = 2
	n := code.Bounds().Dx()
	dark := func(x, y int) bool {
		x, y = x-quiet, y-quiet
		if x < 0 || y < 0 || x >= n || y >= n {
			return false
		}
		r, _, _, _ := code.At(x, y).RGBA()
		return r < 0x8000
	}
	size := n + 2*quiet
	var b strings.Builder
	for y := 0; y < size; y += 2 {
		for x := 0; x < size; x++ {
			top, bottom := !dark(x, y), y+1 < size && !dark(x, y+1)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

package tracking

import (
	"bytes"
	"image/gif"
	"testing"
)

func TestPixel(t *testing.T) {
	p := Pixel()
	if len(p) != 43 {
		t.Errorf("pixel is %d bytes, want 43", len(p))
	}
	img, err := gif.Decode(bytes.NewReader(p))
	if err != nil {
		t.Fatalf("pixel does not decode as GIF: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
		t.Errorf("pixel is %dx%d", b.Dx(), b.Dy())
	}
	if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
		t.Errorf("pixel alpha = %d, want transparent", a)
	}
	p[0] = 'X'
	if Pixel()[0] != 'G' {
		t.Error("changing a returned pixel changed the next one")
	}
}

package tracking

// transparentGIF is a 1x1 GIF89a whose only pixel is transparent: header,
// logical screen with a two-colour table, a graphic control extension that
// marks index 0 transparent, one image block and the trailer.
const transparentGIF = "GIF89a\x01\x00\x01\x00\x80\x00\x00" +
	"\x00\x00\x00\xff\xff\xff" +
	"\x21\xf9\x04\x01\x00\x00\x00\x00" +
	"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00" +
	"\x02\x02\x44\x01\x00" +
	"\x3b"

// Pixel returns the 43-byte transparent 1x1 GIF served for opens
// (Content-Type image/gif). Each call returns a fresh copy.
func Pixel() []byte { return []byte(transparentGIF) }

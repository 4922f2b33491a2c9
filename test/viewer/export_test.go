package viewer

// JPEGOrientation exposes the EXIF reader to the black-box tests.
var JPEGOrientation = jpegOrientation

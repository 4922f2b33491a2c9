module github.com/s3-image-compressor/s3-image-compressor/test

go 1.26

module github.com/s3-image-compressor/s3-image-compressor/function

go 1.26

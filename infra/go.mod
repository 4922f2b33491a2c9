module github.com/s3-image-compressor/s3-image-compressor/infra

go 1.26

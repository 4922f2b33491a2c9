package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ImageMagickLayerProps configures NewImageMagickLayer.
type ImageMagickLayerProps struct {
	BuildContext  string            // the repository root
	BuildArgs     map[string]string // Docker build args (ARGs of the Dockerfile)
	Architecture  awslambda.Architecture
	RemovalPolicy awscdk.RemovalPolicy
}

// NewImageMagickLayer is ImageMagick 7, its delegate libraries and the
// project's policy.xml, unpacked by Lambda into /opt.
func NewImageMagickLayer(scope constructs.Construct, id string, props *ImageMagickLayerProps) (awslambda.LayerVersion, error) {
	code, err := dockerCode(scope, props.BuildContext, props.BuildArgs, layerTarget, props.Architecture)
	if err != nil {
		return nil, err
	}
	return awslambda.NewLayerVersion(scope, &id, &awslambda.LayerVersionProps{
		Code:                    code,
		Description:             jsii.String("ImageMagick 7 with its delegates and security policy (layers/imagemagick)"),
		CompatibleRuntimes:      &[]awslambda.Runtime{awslambda.Runtime_PROVIDED_AL2023()},
		CompatibleArchitectures: &[]awslambda.Architecture{props.Architecture},
		// Old versions stay while a rollback might still need them.
		RemovalPolicy: props.RemovalPolicy,
	}), nil
}

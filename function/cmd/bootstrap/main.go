// Command bootstrap is the Lambda function (runtime provided.al2023, built
// with -tags lambda.norpc). It only wires: configuration from the
// environment, ImageMagick, the S3 and SQS clients, the handler of uploads
// and, beside it, of S3 Batch Operations tasks.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/s3-image-compressor/s3-image-compressor/function/batch"
	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/failures"
	"github.com/s3-image-compressor/s3-image-compressor/function/handler"
	"github.com/s3-image-compressor/s3-image-compressor/function/metrics"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
)

func main() {
	log := lambdacontext.NewLogger()
	h, err := setup(context.Background(), log)
	if err != nil {
		// A function that cannot start must say why where its operator looks:
		// the init error lands in the function's log group.
		log.Error("refusing to start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.StartWithOptions(dispatch(h, batch.New(h, log)), lambda.WithEnableSIGTERM(pipeline.Terminate))
}

// dispatch routes an invocation by its shape: S3 Batch Operations tasks
// (backfill jobs) or an S3 event (uploads).
func dispatch(uploads *handler.Handler, jobs *batch.Handler) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		if batch.IsJob(payload) {
			return jobs.Handle(ctx, payload)
		}
		var event events.S3Event
		if err := json.Unmarshal(payload, &event); err != nil {
			return nil, fmt.Errorf("neither an S3 event nor a Batch Operations invocation: %w", err)
		}
		return uploads.Handle(ctx, event)
	}
}

func setup(ctx context.Context, log *slog.Logger) (*handler.Handler, error) {
	fn, err := config.FromEnvironment(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if err := pipeline.Initialize(int64(lambdacontext.MemoryLimitInMB) << 20); err != nil {
		return nil, fmt.Errorf("imagemagick: %w", err)
	}
	if err := pipeline.CheckOutputs(fn.Settings); err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvSettings, err)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		// S3-compatible servers (MinIO locally) serve buckets by path, not by host name.
		o.UsePathStyle = os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	})
	reporter, err := failures.Open(fn.FailureQueueURL, sqs.NewFromConfig(awsCfg))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvFailureQueueURL, err)
	}
	return handler.New(handler.Config{
		Settings:    fn.Settings,
		Source:      storage.NewSource(client, fn.SourceBucket),
		Destination: storage.NewDestination(client, fn.DestinationBucket),
		Failures:    reporter,
		Metrics:     metrics.New(os.Stdout, lambdacontext.FunctionName),
		Log:         log,
	}), nil
}

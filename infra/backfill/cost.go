package backfill

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

// Prices are AWS list prices in USD for us-east-1, as the pages named beside
// each published them on PricesRecorded. Other regions' prices differ; the
// estimate says which it used.
const PricesRecorded = "2026-12-01"

const (
	s3Pricing     = "aws.amazon.com/s3/pricing"
	lambdaPricing = "aws.amazon.com/lambda/pricing"

	batchJobUSD                = 0.25   // per job (S3 Batch Operations, Management & insights tab)
	batchTaskUSDPerMillion     = 1.00   // per million object operations
	manifestGenUSDPerMillion   = 0.015  // per million objects listed by a generated manifest
	inventoryUSDPerMillion     = 0.0025 // per million objects listed (S3 Inventory)
	lambdaRequestUSDPerMillion = 0.20
	lambdaGBSecondUSDArm64     = 0.0000133334
	lambdaGBSecondUSDX86       = 0.0000166667
	s3GetUSDPerThousand        = 0.0004 // GET, HEAD and other requests (S3 Standard)
	s3PutUSDPerThousand        = 0.005  // PUT, COPY, POST, LIST
)

// The function's time per image comes from the benchmark report (Figures),
// counted again for each further output (they share the decode, but an AVIF
// encode costs more than the benchmark's one output). The benchmark's S3 is
// in-process, so each S3 request adds an assumed s3RequestSeconds.
const s3RequestSeconds = 0.025 // assumed, not measured here

// Function is what the estimate needs to know of the function.
type Function struct {
	MemoryMB     int
	Architecture string
	Outputs      int // configured outputs per image
	// Figures are the benchmark's; nil when the report could not be read
	// (FiguresErr says why), and the Lambda time is not estimated.
	Figures    *Figures
	FiguresErr error
}

// requests per image, every output written: a HEAD and a GET of the
// source; per output a HEAD of its key, a HEAD of the source just before
// the write (its version must still be current) and a PUT.
func (f Function) gets() int { return 2 + 2*f.Outputs }
func (f Function) puts() int { return f.Outputs }

// Estimate is what a backfill is expected to cost.
type Estimate struct {
	Objects int64
	Bytes   int64
	// Lines are the items, each with its price and where it comes from.
	Lines []CostLine
}

// CostLine is one item of an Estimate.
type CostLine struct {
	What   string
	USD    float64
	Basis  string // the price and what it is multiplied by
	Source string
}

// Total is the sum of the lines.
func (e Estimate) Total() float64 {
	var t float64
	for _, l := range e.Lines {
		t += l.USD
	}
	return t
}

// GBSecondsPerImage is the Lambda compute an image of bytes is expected to
// bill; Figures must be set.
func (f Function) GBSecondsPerImage(bytes float64) float64 {
	seconds := float64(f.Outputs)*f.Figures.Seconds(bytes, f.MemoryMB) + s3RequestSeconds*float64(f.gets()+f.puts())
	return seconds * float64(f.MemoryMB) / 1024
}

// estimate prices a backfill of objects totalling bytes. listed is how many
// objects S3 lists to make the manifest (0 for a CSV the command wrote);
// inventory says whether that list is an inventory's rather than a generated
// manifest's.
func estimate(objects, bytes, listed int64, inventory bool, fn Function) Estimate {
	n := float64(objects)
	gbs, price, arch := 0.0, lambdaGBSecondUSDArm64, "arm64"
	if fn.Architecture == envconfig.ArchX86_64 {
		price, arch = lambdaGBSecondUSDX86, "x86_64"
	}
	if objects > 0 && fn.Figures != nil {
		gbs = fn.GBSecondsPerImage(float64(bytes) / n)
	}
	e := Estimate{Objects: objects, Bytes: bytes, Lines: []CostLine{
		{"Batch Operations job", batchJobUSD, fmt.Sprintf("$%.2f per job", batchJobUSD), s3Pricing + " (S3 Batch Operations)"},
		{"Batch Operations tasks", n * batchTaskUSDPerMillion / 1e6, fmt.Sprintf("%d tasks at $%.2f per million", objects, batchTaskUSDPerMillion), s3Pricing + " (S3 Batch Operations)"},
	}}
	switch {
	case listed > 0 && inventory:
		e.Lines = append(e.Lines, CostLine{"S3 Inventory", float64(listed) * inventoryUSDPerMillion / 1e6,
			fmt.Sprintf("%d objects listed daily at $%.4f per million", listed, inventoryUSDPerMillion), s3Pricing + " (S3 Inventory)"})
	case listed > 0:
		e.Lines = append(e.Lines, CostLine{"Manifest generation", float64(listed) * manifestGenUSDPerMillion / 1e6,
			fmt.Sprintf("%d objects listed at $%.3f per million", listed, manifestGenUSDPerMillion), s3Pricing + " (S3 Batch Operations)"})
	}
	e.Lines = append(e.Lines,
		CostLine{"Lambda requests", n * lambdaRequestUSDPerMillion / 1e6, fmt.Sprintf("%d invocations at $%.2f per million", objects, lambdaRequestUSDPerMillion), lambdaPricing},
		lambdaCompute(n, gbs, price, arch, fn),
		CostLine{"S3 requests", n * (float64(fn.gets())*s3GetUSDPerThousand + float64(fn.puts())*s3PutUSDPerThousand) / 1000,
			fmt.Sprintf("%d GET/HEAD and %d PUT per image", fn.gets(), fn.puts()), s3Pricing + " (Requests, S3 Standard)"},
	)
	return e
}

func lambdaCompute(n, gbs, price float64, arch string, fn Function) CostLine {
	if fn.Figures == nil {
		return CostLine{"Lambda compute", 0, fmt.Sprintf("not estimated: %v", fn.FiguresErr), lambdaPricing}
	}
	return CostLine{"Lambda compute", n * gbs * price,
		fmt.Sprintf("%.3f GB-s per image (%d MB, %s, %s) at $%.10f per GB-s", gbs, fn.MemoryMB, arch, plural(fn.Outputs, "output"), price),
		lambdaPricing + "; time per image: " + fn.Figures.Source}
}

// print writes the estimate as a table.
func (e Estimate) print(w io.Writer, region string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "estimated cost (USD; us-east-1 list prices recorded %s%s):\n", PricesRecorded, otherRegion(region))
	for _, l := range e.Lines {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", l.What, usd(l.USD), l.Basis, l.Source)
	}
	fmt.Fprintf(tw, "  total\t%s\t\t\n", usd(e.Total()))
	fmt.Fprintf(tw, "  (Lambda time assumes %.1f bytes per pixel and %.0f ms per S3 request, which the benchmark does not measure; storing the outputs is not included)\n",
		bytesPerPixel, s3RequestSeconds*1000)
	return tw.Flush()
}

func otherRegion(region string) string {
	if region == "" || region == "us-east-1" {
		return ""
	}
	return "; " + region + " may differ"
}

func usd(v float64) string {
	if v > 0 && v < 0.01 {
		return "<0.01"
	}
	return fmt.Sprintf("%.2f", v)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Package backfill is the backfill command: it compresses the images already
// in an environment's source bucket by running the compressor over them with
// S3 Batch Operations. It builds the manifest (S3's generated one, a CSV of a
// listing, or the bucket's S3 Inventory), says how many objects and bytes it
// will touch and what that should cost, asks, creates the job, and with Wait
// follows it to the end and summarises its completion report.
//
// It runs against a deployed stack (through CloudFormation's outputs) or the
// local stack (through the file it writes), with the same code.
package backfill

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"

	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

// Options configure Run.
type Options struct {
	// Env is the environment in CDKJSON (cdk.json) whose stack is backfilled.
	Env, CDKJSON string
	// LocalStack, when set, is the local stack's file (LocalStackFile):
	// backfill the local stack instead of AWS; Env is not needed.
	LocalStack string
	// Manifest is one of Manifests; "" is ManifestGenerated.
	Manifest string
	// Prefix narrows the backfill to keys under it, inside the source prefix;
	// "" is the source prefix.
	Prefix                      string
	CreatedAfter, CreatedBefore time.Time // zero: unbounded
	// Yes starts the job without asking; Wait follows it to the end.
	Yes, Wait bool
	// Poll is how often the job is looked at; zero is 10 s.
	Poll time.Duration
	In   io.Reader // the answer to the question; nil answers no
	Out  io.Writer // what a user reads: counts, cost, summary
	// Progress receives the progress bar; Redraw draws it in place (a terminal).
	Progress io.Writer
	Redraw   bool
	// Clients reaches AWS; nil is AWSClients.
	Clients Clients
	// Benchmarks is the benchmark report (docs/benchmarks.md) whose figures
	// price the function's time; "" leaves that cost out.
	Benchmarks string
}

// ErrNotConfirmed is Run's answer when the user did not confirm the job.
var ErrNotConfirmed = errors.New("not confirmed: nothing was started (-yes skips the question)")

// Run backfills. With Wait it returns the summary of the finished job, and an
// error when the job did not complete or a task has no result.
func Run(ctx context.Context, o Options) (*Summary, error) {
	o = o.withDefaults()
	d, err := target(ctx, o)
	if err != nil {
		return nil, err
	}
	f, err := filter(o, d)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "backfill %s (%s, %s): s3://%s/%s%s, keys ending in %s\n",
		d.Name, d.Stack, d.Region, d.Outputs.SourceBucket, f.Prefix, dates(f), strings.Join(f.Suffixes, " "))

	var id string
	switch o.Manifest {
	case ManifestList:
		id, err = runListed(ctx, o, d, f)
	case ManifestGenerated, ManifestInventory:
		id, err = runPrepared(ctx, o, d, f)
	default:
		err = fmt.Errorf("-manifest %q: want one of %s", o.Manifest, strings.Join(Manifests, ", "))
	}
	if err != nil || id == "" {
		return nil, err
	}
	reports := d.Outputs.Reports
	fmt.Fprintf(o.Out, "job %s started; its completion report will be in s3://%s/%sjob-%s/\n", id, reports.Bucket, reports.Prefix, id)
	if !o.Wait {
		fmt.Fprintf(o.Out, "follow it: aws s3control describe-job --account-id %s --job-id %s --region %s\n", d.Account, id, d.Region)
		return &Summary{JobID: id}, nil
	}
	job, err := wait(ctx, d, id, o.Poll, o.Progress, o.Redraw)
	if err != nil {
		return nil, err
	}
	s, err := readReport(ctx, d, job)
	if err != nil {
		return &s, fmt.Errorf("job %s is %s%s; %w", id, job.Status, failureReasons(job), err)
	}
	s.print(o.Out)
	switch {
	case job.Status != types.JobStatusComplete:
		return &s, fmt.Errorf("job %s is %s%s", id, job.Status, failureReasons(job))
	case s.Missing() > 0:
		return &s, fmt.Errorf("job %s: %d of %d tasks have no result in the completion report", id, s.Missing(), s.Tasks)
	}
	return &s, nil
}

func (o Options) withDefaults() Options {
	if o.Manifest == "" {
		o.Manifest = ManifestGenerated
	}
	if o.Poll == 0 {
		o.Poll = 10 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.In == nil {
		o.In = strings.NewReader("")
	}
	if o.Clients == nil {
		o.Clients = AWSClients
	}
	return o
}

// target is the deployment Options name.
func target(ctx context.Context, o Options) (Deployment, error) {
	if o.LocalStack != "" {
		return local(ctx, o.LocalStack)
	}
	if o.Env == "" {
		return Deployment{}, errors.New("no environment: name one of cdk.json with -env, or -local for the local stack")
	}
	doc, err := os.ReadFile(o.CDKJSON)
	if err != nil {
		return Deployment{}, err
	}
	envs, err := envconfig.FromCDKJSON(doc)
	if err != nil {
		return Deployment{}, fmt.Errorf("%s: %w", o.CDKJSON, err)
	}
	e, err := envconfig.Lookup(envs, o.Env)
	if err != nil {
		return Deployment{}, err
	}
	return deployed(ctx, e, o.Clients)
}

// filter is what Options select within d's source prefix. A prefix outside it
// is refused: the function skips such keys, so every task would be paid for
// nothing.
func filter(o Options, d Deployment) (Filter, error) {
	source := d.Settings.SourcePrefix
	f := Filter{Prefix: o.Prefix, Suffixes: d.Settings.Suffixes, CreatedAfter: o.CreatedAfter, CreatedBefore: o.CreatedBefore}
	if f.Prefix == "" {
		f.Prefix = source
	}
	if !strings.HasPrefix(f.Prefix, source) {
		return Filter{}, fmt.Errorf("-prefix %q is outside the source prefix %q of %s: the compressor skips keys outside it; give a prefix that starts with %q",
			f.Prefix, source, d.Name, source)
	}
	if !f.CreatedAfter.IsZero() && !f.CreatedBefore.IsZero() && !f.CreatedAfter.Before(f.CreatedBefore) {
		return Filter{}, fmt.Errorf("-created-after %s is not before -created-before %s: no object can match",
			f.CreatedAfter.Format(time.RFC3339), f.CreatedBefore.Format(time.RFC3339))
	}
	if o.Manifest == ManifestInventory && (f.Prefix != source || !f.CreatedAfter.IsZero() || !f.CreatedBefore.IsZero()) {
		return Filter{}, fmt.Errorf("-manifest %s lists every upload under %q: -prefix and -created-after/-before need -manifest %s or %s",
			ManifestInventory, source, ManifestGenerated, ManifestList)
	}
	return f, nil
}

func dates(f Filter) string {
	var s string
	if !f.CreatedAfter.IsZero() {
		s += ", created after " + f.CreatedAfter.Format(time.RFC3339)
	}
	if !f.CreatedBefore.IsZero() {
		s += ", created before " + f.CreatedBefore.Format(time.RFC3339)
	}
	return s
}

// runListed lists the prefix here, writes the CSV manifest and creates a job
// that starts at once: the counts are exact before anything is created.
func runListed(ctx context.Context, o Options, d Deployment, f Filter) (string, error) {
	l, err := list(ctx, d, f, true)
	if err != nil {
		return "", err
	}
	if l.objects == 0 {
		fmt.Fprintln(o.Out, "nothing to backfill: no object matches")
		return "", nil
	}
	fmt.Fprintf(o.Out, "objects: %d (listed)\nbytes:   %s\n", l.objects, bytesText(l.bytes))
	if err := estimate(l.objects, l.bytes, 0, false, function(o, d)).print(o.Out, d.Region); err != nil {
		return "", err
	}
	if err := confirm(o, "Start the backfill of %d objects?", l.objects); err != nil {
		return "", err
	}
	manifest, err := putManifest(ctx, d, "backfill-"+time.Now().UTC().Format("20060102T150405Z")+"-"+token()[:8]+".csv", l.manifest.Bytes())
	if err != nil {
		return "", err
	}
	return createJob(ctx, d, jobSpec{description: description(d, f), manifest: manifest})
}

// runPrepared lets S3 read the manifest (generate it, or take the inventory):
// the job is created waiting for confirmation, and its task count is S3's.
func runPrepared(ctx context.Context, o Options, d Deployment, f Filter) (string, error) {
	spec := jobSpec{description: description(d, f), confirm: true}
	if o.Manifest == ManifestInventory {
		m, err := latestInventory(ctx, d)
		if err != nil {
			return "", err
		}
		spec.manifest = m
	} else {
		spec.generator = generator(d, f)
	}
	// A page of the listing samples the sizes, for the bytes and the cost.
	sample, err := list(ctx, d, f, false)
	if err != nil {
		return "", err
	}
	id, err := createJob(ctx, d, spec)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(o.Out, "job %s created; S3 is reading its manifest (%s)...\n", id, o.Manifest)
	job, err := prepared(ctx, d, id, o.Poll)
	if ctx.Err() != nil {
		// Interrupted while S3 read the manifest: the job would wait for a
		// confirmation nobody gives.
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return "", errors.Join(err, setStatus(stop, d, id, types.RequestedJobStatusCancelled, "backfill interrupted before confirming"))
	}
	if err != nil {
		return "", err
	}
	var tasks int64
	if job.ProgressSummary != nil {
		tasks = aws.ToInt64(job.ProgressSummary.TotalNumberOfTasks)
	}
	if tasks == 0 {
		fmt.Fprintln(o.Out, "nothing to backfill: no object matches")
		return "", setStatus(ctx, d, id, types.RequestedJobStatusCancelled, "no object matches")
	}
	// The sample is the whole listing when the prefix holds a page or less.
	bytes, exact := sample.bytes, sample.complete && sample.objects == tasks
	if !exact && sample.objects > 0 {
		bytes = tasks * (sample.bytes / sample.objects)
	}
	listed := tasks
	if o.Manifest == ManifestInventory {
		listed = 0 // the inventory runs daily whether or not it is used
	}
	if exact {
		fmt.Fprintf(o.Out, "objects: %d (S3's count)\nbytes:   %s\n", tasks, bytesText(bytes))
	} else {
		fmt.Fprintf(o.Out, "objects: %d (S3's count)\nbytes:   about %s (from the sizes of the first %d objects listed)\n", tasks, bytesText(bytes), sample.objects)
	}
	if err := estimate(tasks, bytes, listed, o.Manifest == ManifestInventory, function(o, d)).print(o.Out, d.Region); err != nil {
		return "", err
	}
	if err := confirm(o, "Start job %s over %d objects?", id, tasks); err != nil {
		if cancelErr := setStatus(ctx, d, id, types.RequestedJobStatusCancelled, "not confirmed"); cancelErr != nil {
			return "", errors.Join(err, fmt.Errorf("cancelling job %s: %w", id, cancelErr))
		}
		return "", err
	}
	return id, setStatus(ctx, d, id, types.RequestedJobStatusReady, "confirmed by backfill")
}

// function is what the estimate needs of d's function, with the figures of
// the benchmark report.
func function(o Options, d Deployment) Function {
	fn := Function{MemoryMB: d.MemoryMB, Architecture: d.Architecture, Outputs: max(1, len(d.Settings.Outputs))}
	if o.Benchmarks == "" {
		fn.FiguresErr = errors.New("no benchmark report given")
		return fn
	}
	doc, err := os.ReadFile(o.Benchmarks)
	if err == nil {
		var f Figures
		if f, err = ParseFigures(doc); err == nil {
			fn.Figures = &f
			return fn
		}
	}
	fn.FiguresErr = fmt.Errorf("%s: %w", o.Benchmarks, err)
	return fn
}

func description(d Deployment, f Filter) string {
	return fmt.Sprintf("s3-image-compressor backfill of s3://%s/%s (%s)", d.Outputs.SourceBucket, f.Prefix, d.Name)
}

// confirm asks, unless Yes; anything but y or yes is a no.
func confirm(o Options, question string, args ...any) error {
	if o.Yes {
		return nil
	}
	fmt.Fprintf(o.Out, question+" [y/N] ", args...)
	answer, _ := bufio.NewReader(o.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	fmt.Fprintln(o.Out)
	return ErrNotConfirmed
}

// bytesText is n in SI units and exactly: 4.1 MB (4137722 bytes).
func bytesText(n int64) string {
	units := []string{"kB", "MB", "GB", "TB", "PB"}
	v, unit := float64(n), ""
	for i := 0; v >= 1000 && i < len(units); i++ {
		v, unit = v/1000, units[i]
	}
	if unit == "" {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f %s (%d bytes)", v, unit, n)
}

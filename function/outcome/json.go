package outcome

// Response is what the function answers an invocation with: what became of
// each record of the S3 event, in order. The local stack prints it; an
// asynchronous Lambda invocation discards it.
type Response struct {
	Records []Record `json:"records"`
}

// Record is what became of one record: one version of one uploaded object
// and every output configured for it. Its Decision sums up the outputs':
// Failed when one failed (the record is retried, and the retry redoes only
// the outputs still missing), else Rejected when the upload or one output was
// rejected, else Compressed or KeptOriginal when an output was written, else
// Skipped (every output was already there, or none could be made) or Deleted.
type Record struct {
	Bucket   string   `json:"bucket"`
	Key      string   `json:"key"`
	ETag     string   `json:"etag,omitempty"`
	Decision Decision `json:"decision"`
	Reason   string   `json:"reason,omitempty"`
	Retry    bool     `json:"retry,omitempty"`    // a Failed record the invocation's error sends back for retry
	FormatIn Format   `json:"formatIn,omitempty"` // by the upload's magic bytes, once read
	// Outputs are the configured outputs in the order of the settings, once
	// the record got as far as naming them; a record skipped or rejected
	// before that has none.
	Outputs  []Output `json:"outputs,omitempty"`
	BytesIn  int64    `json:"bytesIn"`
	BytesOut int64    `json:"bytesOut"` // written by this invocation, all outputs together
	Millis   int64    `json:"ms"`
}

// Output is what became of one output of a record.
type Output struct {
	Key      string   `json:"key"` // in the destination bucket
	Format   Format   `json:"format,omitempty"`
	Width    int      `json:"width,omitempty"` // as displayed
	Height   int      `json:"height,omitempty"`
	Bytes    int64    `json:"bytes,omitempty"`
	Decision Decision `json:"decision"`
	Reason   string   `json:"reason,omitempty"`
	// Score is the perceptual quality score the encoder reached, where it
	// computed one (0: none).
	Score float64 `json:"score,omitempty"`
}

// File is the JSON line the compress command prints for one output of one
// input file (one line for a rejected input).
type File struct {
	Input     string   `json:"input"`
	Output    string   `json:"output"` // "" when nothing was written
	FormatIn  Format   `json:"formatIn"`
	FormatOut Format   `json:"formatOut"`
	Width     int      `json:"width"`
	Height    int      `json:"height"`
	BytesIn   int      `json:"bytesIn"`
	BytesOut  int      `json:"bytesOut"`
	Decision  Decision `json:"decision"` // the pipeline's, or Failed when the command could not do its part
	Reason    string   `json:"reason"`
	Score     float64  `json:"score,omitempty"`
	// Quality is the lossy quality chosen for a target score, when one was.
	Quality int `json:"quality,omitempty"`
	// Millis is the time this output took; the first output of an input
	// also carries the decode they share.
	Millis int64 `json:"ms"`
}

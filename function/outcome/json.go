package outcome

// Response is what the function answers an invocation with: what became of
// each record of the S3 event, in order. The local stack prints it; an
// asynchronous Lambda invocation discards it.
type Response struct {
	Records []Record `json:"records"`
}

// Record is what became of one record: one version of one uploaded object.
type Record struct {
	Bucket         string   `json:"bucket"`
	Key            string   `json:"key"`
	ETag           string   `json:"etag,omitempty"`
	Decision       Decision `json:"decision"`
	Reason         string   `json:"reason,omitempty"`
	Retry          bool     `json:"retry,omitempty"` // a Failed record the invocation's error sends back for retry
	DestinationKey string   `json:"destinationKey,omitempty"`
	BytesIn        int64    `json:"bytesIn"`
	BytesOut       int64    `json:"bytesOut"`
	Millis         int64    `json:"ms"`
}

// File is the JSON line the compress command prints for one input file.
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
	Millis    int64    `json:"ms"`
}

package backfill

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// PermissionError is a call the caller's credentials may not make.
type PermissionError struct {
	Permission string // the IAM action, e.g. s3:CreateJob
	Resource   string // what it was asked on
	Err        error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("missing permission %s on %s: grant it to the credentials you run backfill with (%v)", e.Permission, e.Resource, e.Err)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// notAuthorized finds the action an IAM denial names ("... is not authorized
// to perform: iam:PassRole on resource: ...").
var notAuthorized = regexp.MustCompile(`not authorized to perform: ([a-zA-Z0-9-]+:[A-Za-z0-9]+)`)

// denied names the permission when err is an access denial of a call that
// needs permission on resource, and leaves other errors as they are. A denial
// that names another action (CreateJob answers with the iam:PassRole it
// lacks) is reported as that one.
func denied(err error, permission, resource string) error {
	if err == nil || !accessDenied(err) {
		return err
	}
	if m := notAuthorized.FindStringSubmatch(err.Error()); m != nil && m[1] != permission {
		permission = m[1]
	}
	return &PermissionError{Permission: permission, Resource: resource, Err: err}
}

func accessDenied(err error) bool {
	switch apiCode(err) {
	case "AccessDenied", "AccessDeniedException", "AuthorizationError", "UnauthorizedOperation":
		return true
	}
	var resp *smithyhttp.ResponseError
	return errors.As(err, &resp) && resp.HTTPStatusCode() == 403
}

func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

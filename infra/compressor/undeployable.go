package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// NotDeployableRule is the id of the rule MarkNotDeployable adds.
const NotDeployableRule = "SynthesizedWithSkipBundling"

// MarkNotDeployable makes CloudFormation refuse stack's template: it was
// synthesized with skipBundling=true, so its layer and function assets are the
// unbuilt sources, not the Docker builds. The rule's assertion can never hold,
// and CloudFormation checks rules before it changes any resource.
func MarkNotDeployable(stack awscdk.Stack) {
	awscdk.NewCfnRule(stack, jsii.String(NotDeployableRule), &awscdk.CfnRuleProps{
		Assertions: &[]*awscdk.CfnRuleAssertion{{
			Assert:            awscdk.Fn_ConditionEquals(jsii.String("skipBundling=true"), jsii.String("Docker-built assets")),
			AssertDescription: jsii.String("This template was synthesized with -c skipBundling=true, for tests and diffs only: its Lambda code is not built. Deploy without skipBundling."),
		}},
	})
}

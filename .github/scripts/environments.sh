#!/usr/bin/env bash
# environments.sh diff|deploy [CDK_JSON]
#
# Prints, as one JSON line, the environments of cdk.json's `github` block that the workflows
# can reach with the given role, for a job matrix or needs.<job>.outputs:
#   [{"name":"dev","region":"eu-west-1","architecture":"arm64","runner":"ubuntu-24.04-arm",
#     "roleArn":"arn:aws:iam::111111111111:role/..."}, ...]
# Under GitHub Actions (GITHUB_OUTPUT set) it writes `environments=<json>` there as well, and
# `by_name=<json>`, the same keyed by environment name.
#
# Role ARNs come from the repository variables DIFF_ROLE_ARN_<ENV> / DEPLOY_ROLE_ARN_<ENV>
# (ENV upper-cased, '-' as '_'), passed in as VARS='${{ toJSON(vars) }}'. An environment whose
# variable is unset is left out with a notice: forks and unconfigured clones skip instead of
# failing on credentials.
#
# The runner follows the environment's Lambda architecture (cdk.json `environments.<name>.
# architecture`, default arm64 as in infra/envconfig), so Docker bundling runs natively rather
# than under QEMU. ARM64_RUNNER / X86_64_RUNNER override the runner labels.
set -euo pipefail

kind=${1:?usage: environments.sh diff|deploy [cdk.json]}
cdk_json=${2:-cdk.json}
case $kind in
diff | deploy) ;;
*)
	echo "environments.sh: unknown role kind '$kind' (want diff or deploy)" >&2
	exit 2
	;;
esac

json=$(jq -ce \
	--arg kind "$kind" \
	--argjson vars "${VARS:-"{}"}" \
	--arg arm "${ARM64_RUNNER:-ubuntu-24.04-arm}" \
	--arg x86 "${X86_64_RUNNER:-ubuntu-latest}" '
	.context as $c
	| ($c.github.environments // error("cdk.json: context.github.environments is missing (see README: GitHub Actions)"))
	| to_entries
	| map(
		.key as $name
		| ($c.environments[$name] // error("cdk.json: github.environments.\($name) has no entry in context.environments"))
		| (.architecture // "arm64") as $arch
		| {
			name: $name,
			# Set once (infra/github): where the environment pins it, else in the github block.
			region: (.region // $c.github.environments[$name].region),
			architecture: $arch,
			runner: (if $arch == "x86_64" then $x86 else $arm end),
			variable: (($kind | ascii_upcase) + "_ROLE_ARN_" + ($name | ascii_upcase | gsub("-"; "_")))
		}
		| . + {roleArn: ($vars[.variable] // "")})
	' "$cdk_json")

for v in $(jq -r '.[] | select(.roleArn == "") | .variable' <<<"$json"); do
	echo "::notice::repository variable $v is not set: its environment is skipped (README: GitHub Actions)"
done
json=$(jq -c 'map(select(.roleArn != "")) | map(del(.variable))' <<<"$json")

echo "$json"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
	# by_name serves jobs written per environment (deploy.yml): fromJSON(...).dev.runner
	{
		echo "environments=$json"
		echo "by_name=$(jq -c 'map({(.name): .}) | add // {}' <<<"$json")"
	} >>"$GITHUB_OUTPUT"
fi

// Turns the output of `cdk diff` into one sticky pull-request comment per environment.
// Used by .github/workflows/diff.yml through actions/github-script:
//   await require(`${process.env.GITHUB_WORKSPACE}/.github/scripts/cdk-diff-comment.js`).post({ github, context, core })
// Tested with `node --test .github/scripts/`.
'use strict';

const fs = require('node:fs');

// GitHub rejects comment bodies over 65536 characters; leave room for the frame.
const MAX_BODY = 60000;

// The headings cdk diff prints above its security tables (CLI 2.1148).
const SECURITY_HEADINGS = ['IAM Statement Changes', 'IAM Policy Changes', 'IAM Identity Center Changes', 'Security Group Changes'];

// Resource types that decide who may do what, beyond what the tables show
// (cdk diff itself warns that its tables may miss some).
const SECURITY_TYPES = /AWS::(IAM::|S3::BucketPolicy|SQS::QueuePolicy|SNS::TopicPolicy|KMS::|Lambda::Permission|EC2::SecurityGroup)/;

function marker(environment) {
  return `<!-- cdk-diff:${environment} -->`;
}

function stripAnsi(text) {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

// parse splits the output into stacks and, per stack, the security tables, the
// security-relevant resource lines and the destructive resource lines.
function parse(output) {
  const stacks = [];
  let stack = null;
  let inSecurity = false;
  let section = '';
  for (const line of stripAnsi(output).split('\n')) {
    const heading = line.match(/^Stack (\S+)/);
    if (heading) {
      stack = { name: heading[1], security: [], securityResources: [], destructive: [] };
      stacks.push(stack);
      inSecurity = false;
      section = '';
      continue;
    }
    if (!stack) continue;
    if (SECURITY_HEADINGS.includes(line.trim())) {
      inSecurity = true;
    }
    if (inSecurity) {
      if (line.startsWith('(NOTE: There may be security-related changes')) {
        inSecurity = false;
      } else {
        stack.security.push(line);
      }
      continue;
    }
    if (/^[A-Z][A-Za-z ]+$/.test(line)) {
      section = line.trim();
      continue;
    }
    const change = line.match(/^\[([+~-])\] (AWS::\S+|Custom::\S+) (.*)$/);
    if (section === 'Resources' && change) {
      if (SECURITY_TYPES.test(change[2])) stack.securityResources.push(line);
      // The impact word cdk diff appends to a resource line.
      if (change[1] === '-' || /\b(replace|may be replaced|destroy|orphan)$/.test(change[3].trim())) stack.destructive.push(line);
    }
  }
  const count = stripAnsi(output).match(/Number of stacks with differences: (\d+)/);
  return { stacks, differences: count ? Number(count[1]) : null };
}

function fence(text) {
  // A diff may itself contain ``` (e.g. in a Lambda's inline code): use a longer fence.
  const longest = Math.max(2, ...(text.match(/`+/g) || []).map((s) => s.length));
  const f = '`'.repeat(longest + 1);
  return `${f}text\n${text}\n${f}`;
}

function truncate(text, limit) {
  if (text.length <= limit) return text;
  return `${text.slice(0, limit)}\n… truncated (${text.length - limit} more characters): see the workflow run's log.`;
}

// render builds the comment for one environment. exitCode is cdk diff's: with
// --fail-on never, anything but 0 means the diff itself failed.
function render({ environment, output, exitCode, sha, runUrl }) {
  const clean = stripAnsi(output).replace(/\s+$/, '');
  const { stacks, differences } = parse(clean);
  const lines = [marker(environment), `### \`cdk diff\` for **${environment}**`, ''];
  if (exitCode !== 0) {
    lines.push(`:x: **cdk diff failed** (exit code ${exitCode}). The last lines of its output:`, '');
    lines.push(fence(truncate(clean.split('\n').slice(-60).join('\n'), MAX_BODY / 2)));
  } else if (differences === 0) {
    lines.push(':white_check_mark: No differences from the deployed stack.');
  } else {
    const security = stacks.filter((s) => s.security.length || s.securityResources.length);
    if (security.length) {
      lines.push('> [!WARNING]', '> **Security-relevant changes**: IAM statements, resource policies (bucket, queue, topic, key) or security groups change. Review them before merging.', '');
      for (const s of security) {
        const parts = [...s.security];
        if (s.securityResources.length) parts.push(...(parts.length ? [''] : []), ...s.securityResources);
        lines.push(`**${s.name}**`, '', fence(truncate(parts.join('\n'), MAX_BODY / 3)), '');
      }
    } else {
      lines.push(':information_source: No IAM, resource-policy or security-group changes.', '');
    }
    const destructive = stacks.flatMap((s) => s.destructive.map((l) => `${s.name}: ${l}`));
    if (destructive.length) {
      lines.push('> [!CAUTION]', '> **Resources removed or replaced** (data in a replaced bucket or queue is not carried over):', '', fence(truncate(destructive.join('\n'), MAX_BODY / 6)), '');
    }
    const used = lines.join('\n').length;
    lines.push('<details><summary>Full diff</summary>', '', fence(truncate(clean, Math.max(1000, MAX_BODY - used))), '', '</details>');
  }
  lines.push('', `<sub>Commit ${sha.slice(0, 7)} · [workflow run](${runUrl}) · updated on every push</sub>`);
  return lines.join('\n');
}

// upsert edits the comment this workflow left for environment, or creates it.
// Only comments by a bot count: a user quoting the marker cannot redirect the update.
async function upsert({ github, owner, repo, issueNumber, environment, body }) {
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner, repo, issue_number: issueNumber, per_page: 100,
  });
  const mine = comments.find((c) => c.user && c.user.type === 'Bot' && (c.body || '').startsWith(marker(environment)));
  if (mine) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
    return 'updated';
  }
  await github.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body });
  return 'created';
}

// post is the github-script entry: ENVIRONMENT, DIFF_FILE and DIFF_EXIT come from the step's env.
async function post({ github, context, core }) {
  const environment = process.env.ENVIRONMENT;
  const body = render({
    environment,
    output: fs.readFileSync(process.env.DIFF_FILE, 'utf8'),
    exitCode: Number(process.env.DIFF_EXIT),
    sha: context.payload.pull_request.head.sha,
    runUrl: `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}`,
  });
  const how = await upsert({
    github, owner: context.repo.owner, repo: context.repo.repo,
    issueNumber: context.issue.number, environment, body,
  });
  core.info(`${how} the cdk diff comment for ${environment}`);
}

module.exports = { marker, parse, render, upsert, post };

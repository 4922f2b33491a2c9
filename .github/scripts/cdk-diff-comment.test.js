// node --test .github/scripts/
// The fixtures in testdata/ are real output of the pinned CDK CLI (`cdk diff --template`).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { parse, render, upsert, marker } = require('./cdk-diff-comment.js');

const fixture = (name) => fs.readFileSync(path.join(__dirname, 'testdata', name), 'utf8');
const frame = { sha: '0123456789abcdef', runUrl: 'https://example.invalid/run/1' };

test('security tables, policy and group resources and destructive changes are extracted', () => {
  const { stacks, differences } = parse(fixture('cdk-diff-security.txt'));
  assert.equal(differences, 1);
  assert.equal(stacks.length, 1);
  const s = stacks[0];
  assert.equal(s.name, 'ImageCompressor-dev');
  assert.equal(s.security[0], 'IAM Statement Changes');
  assert.ok(s.security.includes('Security Group Changes'), `want the security-group table in ${s.security.join('\n')}`);
  assert.ok(s.security.some((l) => l.includes('s3:GetObject') && l.includes('333333333333')), 'want the new bucket-policy statement');
  assert.ok(!s.security.some((l) => l.startsWith('(NOTE')), 'the NOTE line ends the section and is not part of it');
  assert.deepEqual(s.securityResources, [
    '[+] AWS::EC2::SecurityGroup Sg Sg',
    '[~] AWS::S3::BucketPolicy Source/Policy SourcePolicyE5AB5F73 replace',
  ]);
  assert.deepEqual(s.destructive, [
    '[-] AWS::SQS::Queue FailureQueue destroy',
    '[~] AWS::S3::Bucket Source Source71E471F1 replace',
    '[~] AWS::S3::BucketPolicy Source/Policy SourcePolicyE5AB5F73 replace',
  ]);
});

test('the security call-out comes before the full diff', () => {
  const body = render({ environment: 'dev', output: fixture('cdk-diff-security.txt'), exitCode: 0, ...frame });
  assert.ok(body.startsWith(marker('dev') + '\n'), 'the body must start with the marker the update looks for');
  const warning = body.indexOf('**Security-relevant changes**');
  const caution = body.indexOf('**Resources removed or replaced**');
  const full = body.indexOf('<summary>Full diff</summary>');
  assert.ok(warning > 0 && caution > warning && full > caution, `want warning < caution < full diff, got ${warning}, ${caution}, ${full}`);
  assert.ok(body.includes('Everyone (IPv4)'));
  assert.ok(body.includes('Commit 0123456'));
});

test('IAM trust changes of the OIDC stack are called out', () => {
  const body = render({ environment: 'prod', output: fixture('cdk-diff-oidc-stack.txt'), exitCode: 0, ...frame });
  const callout = body.slice(0, body.indexOf('<summary>Full diff</summary>'));
  assert.ok(callout.includes('repo:acme/widgets:ref:refs/heads/release'), 'want the changed sub claim in the call-out');
  assert.ok(callout.includes('[+] AWS::IAM::Role DiffRoleProd'), 'want the new role listed');
  assert.ok(!callout.includes('Resources removed or replaced'), 'nothing is removed or replaced here');
});

test('no differences', () => {
  const body = render({ environment: 'dev', output: fixture('cdk-diff-none.txt'), exitCode: 0, ...frame });
  assert.match(body, /No differences from the deployed stack/);
  assert.doesNotMatch(body, /Security-relevant/);
});

test('a failed diff says so and shows the end of the log', () => {
  const output = 'Stack ImageCompressor-dev\n\x1b[31mUser: arn:aws:sts::1:assumed-role/x is not authorized to perform: sts:AssumeRole\x1b[0m\n';
  const body = render({ environment: 'dev', output, exitCode: 1, ...frame });
  assert.match(body, /cdk diff failed\*\* \(exit code 1\)/);
  assert.ok(body.includes('is not authorized to perform: sts:AssumeRole'));
  assert.doesNotMatch(body, /\x1b/, 'colour codes are stripped');
});

test('a huge diff is truncated below GitHub\'s comment limit, the call-out kept', () => {
  const output = fixture('cdk-diff-security.txt').replace('Resources\n', `Resources\n${'[~] AWS::Lambda::Function Fn Fn123\n'.repeat(5000)}`);
  const body = render({ environment: 'dev', output, exitCode: 0, ...frame });
  assert.ok(body.length < 65536, `body is ${body.length} characters`);
  assert.match(body, /truncated/);
  assert.match(body, /Security-relevant changes/);
});

test('a diff containing a code fence cannot close the comment\'s fence', () => {
  const body = render({ environment: 'dev', output: 'Stack X\nResources\n[+] AWS::Lambda::Function F F1\n ```\n\nNumber of stacks with differences: 1\n', exitCode: 0, ...frame });
  assert.ok(body.includes('````text'), 'want a fence longer than any run of backticks in the diff');
});

function fakeGitHub(comments) {
  const calls = [];
  return {
    calls,
    paginate: async (fn, args) => fn(args),
    rest: {
      issues: {
        listComments: (args) => { calls.push(['list', args.issue_number]); return comments; },
        updateComment: async (args) => { calls.push(['update', args.comment_id]); },
        createComment: async (args) => { calls.push(['create', args.issue_number]); },
      },
    },
  };
}

test('upsert updates the bot comment of the same environment only', async () => {
  const gh = fakeGitHub([
    { id: 1, user: { type: 'User' }, body: `${marker('dev')}\nquoted by a person` },
    { id: 2, user: { type: 'Bot' }, body: `${marker('prod')}\nprod diff` },
    { id: 3, user: { type: 'Bot' }, body: `${marker('dev')}\nold dev diff` },
  ]);
  const how = await upsert({ github: gh, owner: 'acme', repo: 'widgets', issueNumber: 7, environment: 'dev', body: 'new' });
  assert.equal(how, 'updated');
  assert.deepEqual(gh.calls, [['list', 7], ['update', 3]]);
});

test('upsert creates a comment when none of its environment exists', async () => {
  const gh = fakeGitHub([{ id: 2, user: { type: 'Bot' }, body: `${marker('prod')}\nprod diff` }]);
  const how = await upsert({ github: gh, owner: 'acme', repo: 'widgets', issueNumber: 7, environment: 'dev', body: 'new' });
  assert.equal(how, 'created');
  assert.deepEqual(gh.calls, [['list', 7], ['create', 7]]);
});

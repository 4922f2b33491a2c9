// node --test .github/scripts/
// Rules for the workflows and local actions that actionlint does not check: every action pinned
// by commit SHA with its version beside it, and no step that runs the app, its dependencies or
// its build in a file that grants the OIDC token (those steps live in synth.yml).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const github = path.join(__dirname, '..');

function workflowFiles() {
  const workflows = fs.readdirSync(path.join(github, 'workflows')).filter((f) => f.endsWith('.yml')).map((f) => path.join('workflows', f));
  const actions = fs.readdirSync(path.join(github, 'actions')).map((d) => path.join('actions', d, 'action.yml'));
  return [...workflows, ...actions];
}

// Commands that run code of the repository, its npm or Go dependencies or its Docker build.
const BUILDS = [/synth\.sh/, /\bnpm (ci|install)\b(?!.*--ignore-scripts)/, /\bnpx (?!--no-install cdk (diff|deploy) --app cdk\.out)/, /\bgo (run|build|test)\b/, /\bmake\b/, /docker (build|run)/];

// problems lists what breaks the rules in one file's text.
function problems(name, text) {
  const out = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const m = line.match(/^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/);
    if (!m || m[1].startsWith('./')) return;
    if (!/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(m[1])) {
      out.push(`${name}:${i + 1}: ${m[1]} is not pinned to a full commit SHA`);
    } else if (!/^\s+# v\d+\.\d+\.\d+$/.test(m[2])) {
      out.push(`${name}:${i + 1}: ${m[1]} has no "# vX.Y.Z" comment naming the pinned version`);
    }
  });
  if (/id-token:\s*write/.test(text)) {
    lines.forEach((line, i) => {
      if (line.trim().startsWith('#')) return;
      for (const build of BUILDS) {
        if (build.test(line)) out.push(`${name}:${i + 1}: "${line.trim()}" runs build code in a workflow that grants id-token: write`);
      }
    });
  }
  return out;
}

test('the repository workflows and actions keep the rules', () => {
  const files = workflowFiles();
  assert.ok(files.includes(path.join('workflows', 'synth.yml')) && files.includes(path.join('actions', 'cdk-with-role', 'action.yml')), `files: ${files}`);
  for (const f of files) {
    assert.deepEqual(problems(f, fs.readFileSync(path.join(github, f), 'utf8')), [], `${f} breaks the rules`);
  }
});

test('the only npm install next to a role runs no package scripts', () => {
  const action = fs.readFileSync(path.join(github, 'actions', 'cdk-with-role', 'action.yml'), 'utf8');
  assert.match(action, /run: npm ci --ignore-scripts /);
  assert.match(action, /package-manager-cache: false/);
});

test('the checks catch what they are for', () => {
  const sha = '3d3c42e5aac5ba805825da76410c181273ba90b1';
  const cases = {
    'a tag': '      - uses: actions/checkout@v7',
    'a short SHA': '      - uses: actions/checkout@3d3c42e # v7.0.1',
    'no version comment': `      - uses: actions/checkout@${sha}`,
    'a major-only comment': `      - uses: actions/checkout@${sha} # v7`,
    'synth next to a token': 'permissions:\n  id-token: write\n      - run: .github/scripts/synth.sh dev',
    'npm ci next to a token': 'permissions:\n  id-token: write\n      - run: npm ci --no-audit',
    'npx of another package next to a token': 'permissions:\n  id-token: write\n      - run: npx some-tool',
    'go run next to a token': 'permissions:\n  id-token: write\n      - run: go run ./infra',
  };
  for (const [name, text] of Object.entries(cases)) {
    assert.notDeepEqual(problems('planted.yml', text), [], `${name} was accepted`);
  }
  assert.deepEqual(problems('fine.yml', `      - uses: actions/checkout@${sha} # v7.0.1\n      - uses: ./.github/actions/cdk-with-role`), []);
});

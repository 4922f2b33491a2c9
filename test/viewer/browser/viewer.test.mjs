// The viewer in a real browser: runs bin/local (what `make local` runs) on
// free ports with a fresh state directory, opens the printed viewer address in
// Debian's Chromium (headless, through playwright-core), uploads two images
// through the file input, and checks rows, the compare view, keyboard use, a
// 360 px wide screen, and that a restart keeps the outputs visible.
//
//   node --test test/viewer/browser/     (make browser; needs bin/local)
//
// Environment: CHROMIUM (default /usr/bin/chromium), VIEWER_TEST_OUT (default
// test-results/viewer), VIEWER_IMAGES=generated (never the shared corpus),
// VIEWER_SCREENSHOT=FILE (also save the desktop screenshot there).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const root = path.resolve(import.meta.dirname, "../../..");
const localBin = path.join(root, "bin", "local");
const outDir = path.resolve(root, process.env.VIEWER_TEST_OUT ?? "test-results/viewer");
const corpus = path.resolve(root, "..", "shared", "corpus");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
// The flags Debian's Chromium needs here (see ../shared/FACTS.md); headless
// itself is Playwright's `headless: true`, which passes --headless.
const chromiumFlags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-quic"];
const started = Date.now();

let work; // temporary directory: state, browser profile, generated images
let stack; // the running bin/local
let browser;

before(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  work = fs.mkdtempSync(path.join(os.tmpdir(), "s3ic-viewer-test-"));
  stack = await startLocal(path.join(work, "state"));
  browser = await chromium.launchPersistentContext(path.join(work, "profile"), {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumFlags,
    viewport: { width: 1280, height: 900 },
  });
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
  console.log(`viewer browser test: ${((Date.now() - started) / 1000).toFixed(1)} s in all; screenshots in ${path.relative(root, outDir)}`);
});

// startLocal runs bin/local and resolves once it prints the viewer's address.
async function startLocal(state) {
  const log = fs.openSync(path.join(outDir, "local.log"), "a");
  const child = spawn(localBin, ["-port", "0", "-viewer-port", "0", "-state", state],
    { cwd: root, stdio: ["ignore", "pipe", log] });
  let output = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bin/local printed no viewer line within 10 min:\n${output}`)), 10 * 60_000);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      fs.writeSync(log, chunk);
      const m = output.match(/^\s*viewer\s+(http:\/\/127\.0\.0\.1:\d+\/)/m);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`bin/local exited with ${code} before printing the viewer line (see ${path.join(outDir, "local.log")}):\n${output}`));
    });
  });
  child.stdout.on("data", (chunk) => fs.writeSync(log, chunk));
  return {
    url,
    output: () => output,
    // Ctrl-C, as a user stops it; the stack stops its own children.
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const [code] = await exited;
      clearTimeout(timer);
      assert.equal(code, 0, "bin/local should exit 0 on Ctrl-C");
    },
  };
}

// testImages are two photos from the shared corpus (one whose EXIF
// orientation turns it, which the function keeps as it is, and one with GPS
// data that it compresses) or, where the corpus is absent, two images drawn
// by ImageMagick.
function testImages() {
  const picks = ["recurser_Landscape_5_orient5.jpg", "exifsamples_DSCN0010_gps.jpg"].map((f) => path.join(corpus, f));
  if (process.env.VIEWER_IMAGES !== "generated" && picks.every((f) => fs.existsSync(f))) {
    console.log(`images: ${picks.map((f) => path.basename(f)).join(", ")} from ${corpus}`);
    return picks;
  }
  const prefix = execFileSync("bash", [path.join(root, "layers", "imagemagick", "local.sh"), "prefix"], { encoding: "utf8" }).trim();
  const magick = path.join(prefix, "bin", "magick");
  const dir = path.join(work, "images");
  fs.mkdirSync(dir);
  const made = [
    ["logo-large.jpg", ["logo:", "-resize", "200%", "-quality", "95"]],
    ["plasma.webp", ["-seed", "3", "-size", "1024x768", "plasma:orange-purple", "-quality", "95"]],
  ].map(([name, args]) => {
    const file = path.join(dir, name);
    execFileSync(magick, [...args, file]);
    return file;
  });
  console.log(`images: generated with ImageMagick (${process.env.VIEWER_IMAGES === "generated" ? "VIEWER_IMAGES=generated" : `no corpus at ${corpus}`})`);
  return made;
}

// watch fails the test on any script error, console error or failed request.
function watch(page) {
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("requestfailed", (r) => {
    // An event stream cut by a navigation or by the test's end is no failure.
    if (!r.url().endsWith("/api/events")) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return problems;
}

const rowOf = (page, key) => page.locator(`#records tr[data-key="${key}"]`);

async function waitForRow(page, key) {
  const row = rowOf(page, key);
  await row.waitFor({ timeout: 120_000 });
  const decision = await row.getAttribute("data-decision");
  assert.ok(["compressed", "kept-original"].includes(decision), `${key}: decision ${decision}, want compressed or kept-original`);
  return row;
}

// bothImagesLoaded waits until the compare view shows both images and
// returns their natural sizes.
async function bothImagesLoaded(page) {
  await page.waitForFunction(() => ["img-original", "img-output"].every((id) => {
    const img = document.getElementById(id);
    return img.getAttribute("src") && img.complete && img.naturalWidth > 0;
  }), null, { timeout: 30_000 });
  return page.evaluate(() => Object.fromEntries(["img-original", "img-output"].map((id) => {
    const img = document.getElementById(id);
    return [id, { w: img.naturalWidth, h: img.naturalHeight, alt: img.alt }];
  })));
}

const noHorizontalOverflow = (page) => page.evaluate(() => ({
  scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
}));

// zoomAndSideBySide checks 100 % against the natural width, then side by
// side at 200 % scrolling together.
async function zoomAndSideBySide(page) {
  await page.selectOption("#zoom", "1");
  const natural = await page.locator("#img-original").evaluate((i) => i.naturalWidth);
  assert.equal(await page.locator("#frame-a").evaluate((f) => f.getBoundingClientRect().width), natural, "at 100 % the frame should be the image's natural width");
  await page.check('input[name="mode"][value="side"]');
  await page.selectOption("#zoom", "2");
  assert.equal(await page.locator("#img-output").evaluate((i) => i.parentElement.id), "frame-b", "side by side shows the output in its own frame");
  const position = () => page.evaluate(() => ["stage-a", "stage-b"].map((id) => {
    const s = document.getElementById(id);
    return [s.scrollLeft, s.scrollTop];
  }));
  await page.locator("#stage-a").evaluate((a) => { a.scrollLeft = 200; a.scrollTop = 120; });
  await page.waitForFunction(() => {
    const [a, b] = ["stage-a", "stage-b"].map((id) => document.getElementById(id));
    return a.scrollLeft === b.scrollLeft && a.scrollTop === b.scrollTop;
  }, null, { timeout: 5_000 }).catch(async () => assert.fail(`scrolling one side should scroll the other to the same place: ${JSON.stringify(await position())}`));
  const [a] = await position();
  assert.ok(a[0] > 0 && a[1] > 0, `at 200 % the view should scroll: ${JSON.stringify(a)}`);
  await bothImagesLoaded(page);
  await page.locator("#compare").screenshot({ path: path.join(outDir, "viewer-side-by-side.png") });
}

test("upload two images, compare, keyboard, 360 px, restart", async (t) => {
  const images = testImages();
  const keys = images.map((f) => `uploads/${path.basename(f)}`);
  const page = await browser.newPage();
  const problems = watch(page);
  await page.goto(stack.url);
  await page.locator("#where", { hasText: "s3://s3ic-source/uploads/" }).waitFor();
  await page.locator("#connection", { hasText: "Live" }).waitFor();

  await t.test("uploads through the file input get their rows", async () => {
    const t0 = Date.now();
    await page.setInputFiles("#files", images);
    for (const key of keys) await waitForRow(page, key);
    console.log(`both rows in ${Date.now() - t0} ms after choosing the files`);
    for (const key of keys) {
      const item = page.locator(`#uploads li[data-key="${key}"]`);
      assert.equal(await item.locator("progress").evaluate((p) => p.value), 1, `${key}: the upload's progress should be complete`);
      assert.match(await item.locator(".status").textContent(), /^(compressed|kept-original)/, `${key}: the upload's status should name the decision`);
      const cells = await rowOf(page, key).locator("td").allTextContents();
      assert.match(cells[2], /\d+(\.\d)? [kM]?B → \d+(\.\d)? [kM]?B/, `${key}: bytes in → out, got ${cells[2]}`);
      assert.match(cells[3], /^\d+ %$/, `${key}: ratio, got ${cells[3]}`);
      assert.match(cells[4], /^\d+×\d+/, `${key}: dimensions, got ${cells[4]}`);
      assert.match(cells[5], /\d+ ms/, `${key}: time, got ${cells[5]}`);
    }
  });

  await t.test("the compare view opens by keyboard and shows both images in register", async () => {
    await page.locator("body").focus();
    const target = `Compare ${keys[0]}`;
    let reached = false;
    for (let i = 0; i < 80 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate((name) => document.activeElement?.getAttribute("aria-label") === name, target);
    }
    assert.ok(reached, `Tab should reach the button "${target}"`);
    await page.keyboard.press("Enter");
    assert.equal(await page.locator("#compare-key").textContent(), keys[0]);
    assert.equal(await page.evaluate(() => document.activeElement?.id), "compare-heading", "Enter should move the focus to the compare view");
    const imgs = await bothImagesLoaded(page);
    assert.ok(imgs["img-original"].w > 0 && imgs["img-output"].w > 0, `naturalWidth > 0 for both: ${JSON.stringify(imgs)}`);
    // The browser turns the original by its EXIF orientation; the output is
    // turned already: both must show the same way up.
    assert.deepEqual({ w: imgs["img-original"].w, h: imgs["img-original"].h }, { w: imgs["img-output"].w, h: imgs["img-output"].h },
      "original and output should have the same shown size");
    for (const [id, img] of Object.entries(imgs)) assert.match(img.alt, /^(Original|Output): uploads\//, `${id} alt text, got "${img.alt}"`);
    const options = await page.locator("#output option").count();
    assert.ok(options >= 1, "the output chooser should list the outputs");
  });

  await t.test("the slider moves by keyboard and by pointer", async () => {
    const clip = () => page.locator("#img-output").evaluate((img) => getComputedStyle(img).clipPath);
    assert.equal(await clip(), "inset(0px 0px 0px 50%)");
    await page.locator("#divider").focus();
    for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowLeft");
    assert.equal(await clip(), "inset(0px 0px 0px 40%)", "ten ArrowLeft presses should move the divider to 40 %");
    const box = await page.locator("#frame-a").boundingBox();
    await page.mouse.click(box.x + box.width * 0.75, box.y + box.height / 2);
    const at = Number(await page.locator("#divider").inputValue());
    assert.ok(Math.abs(at - 75) <= 1, `a click at three quarters should put the divider there, got ${at}`);
  });

  await t.test("zoom keeps both images in register, side by side too", async () => {
    try {
      await zoomAndSideBySide(page);
    } finally { // back to what the screenshot shows, whatever failed
      await page.check('input[name="mode"][value="slider"]');
      await page.selectOption("#zoom", "fit");
      await page.locator("#divider").fill("50");
    }
  });

  await t.test("screenshot at 1280 px", async () => {
    const file = path.join(outDir, "viewer.png");
    await page.screenshot({ path: file, fullPage: true });
    if (process.env.VIEWER_SCREENSHOT) {
      const copy = path.resolve(root, process.env.VIEWER_SCREENSHOT);
      fs.mkdirSync(path.dirname(copy), { recursive: true });
      fs.copyFileSync(file, copy);
    }
  });

  await t.test("nothing overflows at 360 px", async () => {
    await page.setViewportSize({ width: 360, height: 780 });
    await page.waitForFunction(() => document.getElementById("frame-a").getBoundingClientRect().width <= 360);
    const { scroll, client } = await noHorizontalOverflow(page);
    assert.ok(scroll <= client, `the page is ${scroll} px wide in a ${client} px window`);
    const frame = await page.locator("#frame-a").boundingBox();
    assert.ok(frame.width > 0 && frame.x >= 0 && frame.x + frame.width <= 360, `the image frame should fit the screen: ${JSON.stringify(frame)}`);
    await page.screenshot({ path: path.join(outDir, "viewer-360.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  assert.deepEqual(problems, [], "the page should have no script errors, console errors or failed requests");
  await page.close();

  await t.test("after a restart the outputs are listed from the destination", async () => {
    await stack.stop();
    stack = await startLocal(path.join(work, "state"));
    const fresh = await browser.newPage();
    const freshProblems = watch(fresh);
    await fresh.goto(stack.url);
    for (const key of keys) await waitForRow(fresh, key);
    await fresh.locator(`#records tr[data-key="${keys[1]}"] button`).click();
    const imgs = await bothImagesLoaded(fresh);
    assert.ok(imgs["img-original"].w > 0 && imgs["img-output"].w > 0, `both images of ${keys[1]} should load from the history`);
    assert.deepEqual(freshProblems, []);
    await fresh.close();
  });
});

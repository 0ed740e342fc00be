// Proof that the live status page works in a real browser against a real cluster: it lists the
// three members and the leader, and after the leader is killed it shows the new leader and the
// old one as unreachable within a bounded time. Leaves a screenshot in test-output/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, withCluster } from '../lib/cluster-harness.js';
import { launchBrowser } from './observability/browser.js';

/** The page polls every second; a new leader must show within an election plus a few polls. */
const NEW_LEADER_SHOWN_MS = 15_000;

test('the status page shows the members and the leader, and follows a leader change', { timeout: 120_000 }, async () => {
  await withCluster('observability-status-page', { members: 3 }, async (c) => {
    const leader = await c.waitForLeader();
    // Serve the page from a follower so it survives the leader's death.
    const follower = c.members.find((m) => m.name !== leader.name);
    assert.ok(follower);
    const browser = await launchBrowser();
    const outDir = join(repoRoot(), 'test-output');
    const screenshot = join(outDir, 'status-page.png');
    try {
      const { page } = browser;
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      const res = await page.goto(`${follower.clientUrl}/`, { waitUntil: 'load', timeout: 15_000 });
      assert.equal(res?.status(), 200, 'GET / serves the status page');
      // String predicates run in the page (this project compiles without DOM types).
      await page.waitForFunction('document.querySelectorAll("#members tr[data-member]").length === 3', undefined, { timeout: 10_000 });
      await page.waitForSelector(`#leader-name[data-leader="${leader.name}"]`, { timeout: 10_000 });
      // Every member publishes its client URL (transport hello + publish entries), so the page
      // reaches each running member, not only the leader and the one serving it.
      for (const m of c.members) {
        await page.waitForSelector(`#members tr[data-member="${m.name}"][data-health="healthy"]`, { timeout: 10_000 });
      }
      assert.equal(await page.locator('#members tr[data-member][data-health="healthy"]').count(), 3, 'all three running members are reachable');
      assert.equal(await page.locator('#leader-name').textContent(), leader.name);
      const leaderRow = page.locator(`#members tr[data-member="${leader.name}"]`);
      assert.equal(await leaderRow.getAttribute('data-role'), 'leader');
      assert.equal(await leaderRow.getAttribute('data-leader'), 'true');
      assert.equal(await page.locator(`#members tr[data-member="${follower.name}"]`).getAttribute('data-role'), 'follower');
      // Lag bars are measured against the leader's commit index; on an idle cluster everyone catches up.
      await page.waitForSelector(`#members tr[data-member="${leader.name}"] .lagbar[data-lag="0"]`, { timeout: 5_000 });
      await page.waitForSelector(`#members tr[data-member="${follower.name}"] .lagbar[data-lag="0"]`, { timeout: 5_000 });
      assert.ok((await page.locator('#leader-changes li').count()) >= 1, 'at least the current leader is listed under leader changes');
      const firstUpdate = await page.locator('#last-update').getAttribute('data-updated-at');

      const killedAtMs = Date.now();
      await c.kill9(leader);
      const next = await c.waitForLeader(20_000, [leader.name]);
      await page.waitForSelector(`#leader-name[data-leader="${next.name}"]`, { timeout: NEW_LEADER_SHOWN_MS });
      await page.waitForSelector(`#members tr[data-member="${leader.name}"][data-health="unreachable"]`, { timeout: 5_000 });
      const shownAfterMs = Date.now() - killedAtMs;
      assert.ok(await page.locator(`#leader-changes li[data-leader="${next.name}"]`).count() >= 1, 'the new leader is listed under leader changes');
      // The new leader publishes its client URL; the page learns it from the survivors and then reaches it.
      await page.waitForSelector(`#members tr[data-member="${next.name}"][data-role="leader"][data-health="healthy"][data-leader="true"]`, { timeout: 5_000 });
      assert.notEqual(await page.locator('#last-update').getAttribute('data-updated-at'), firstUpdate, 'the last-update time moves');
      assert.deepEqual(pageErrors, [], 'no script errors on the page');
      mkdirSync(outDir, { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
      process.stdout.write(`status page: ${leader.name} killed, page showed ${next.name} as leader after ${shownAfterMs} ms; screenshot ${screenshot}\n`);
    } catch (err) {
      try {
        mkdirSync(outDir, { recursive: true });
        await browser.page.screenshot({ path: join(outDir, 'status-page-failure.png'), fullPage: true });
        process.stderr.write(`status page failure screenshot: ${join(outDir, 'status-page-failure.png')}\n`);
      } catch {
        // best effort
      }
      throw err;
    } finally {
      await browser.close();
    }
  });
});

test('with --auth-token-file the status page asks for a token, then shows every member (cross-origin calls carry it)', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-page-auth-'));
  const readToken = 'page-read-token-0123456789';
  const tokenFile = join(dir, 'tokens');
  writeFileSync(tokenFile, `${readToken} read dashboards\nwrite-token-abcdefghijkl write apps\n`);
  try {
    await withCluster('observability-status-page-auth', { members: 3, extraArgs: ['--auth-token-file', tokenFile], statusToken: readToken }, async (c) => {
      const leader = await c.waitForLeader();
      const follower = c.members.find((m) => m.name !== leader.name);
      assert.ok(follower);
      const browser = await launchBrowser();
      try {
        const { page } = browser;
        const pageErrors: string[] = [];
        page.on('pageerror', (e) => pageErrors.push(e.message));
        const res = await page.goto(`${follower.clientUrl}/`, { waitUntil: 'load', timeout: 15_000 });
        assert.equal(res?.status(), 200, 'the page itself is open');
        await page.waitForFunction('/requires a token/.test(document.getElementById("error").textContent)', undefined, { timeout: 10_000 });
        assert.equal(await page.locator('#members tr[data-member]').count(), 0, 'nothing is shown without a token');
        // A token without the read role is not enough either (write implies read here, so use a wrong one).
        await page.fill('#token', 'not-a-valid-token-at-all');
        await page.press('#token', 'Enter');
        await page.waitForFunction('/requires a token/.test(document.getElementById("error").textContent)', undefined, { timeout: 10_000 });
        await page.fill('#token', readToken);
        await page.press('#token', 'Enter');
        // Every member is reached, also the two on other origins (a CORS preflight for Authorization).
        for (const m of c.members) {
          await page.waitForSelector(`#members tr[data-member="${m.name}"][data-health="healthy"]`, { timeout: 10_000 });
        }
        await page.waitForSelector(`#leader-name[data-leader="${leader.name}"]`, { timeout: 10_000 });
        // The token stays for the tab's session (a reload keeps working) and is not in the URL.
        await page.reload({ waitUntil: 'load' });
        await page.waitForFunction('document.querySelectorAll("#members tr[data-member][data-health=healthy]").length === 3', undefined, { timeout: 10_000 });
        assert.ok(!page.url().includes(readToken));
        assert.deepEqual(pageErrors, [], 'no script errors on the page');
        for (const m of c.members) assert.ok(!readFileSync(m.logFile, 'utf8').includes(readToken), `${m.name} never logs the token`);
      } finally {
        await browser.close();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

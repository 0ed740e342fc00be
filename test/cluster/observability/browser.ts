// Headless Chromium (Debian's /usr/bin/chromium) through playwright-core for tests: a fresh
// user-data dir, no sandbox/GPU/background traffic, always closed (and the dir removed) by `close`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';

/** The browser binary the tests use. */
export const CHROMIUM_BIN = '/usr/bin/chromium';

/** Flags that keep a headless Chromium quiet and offline except for the pages we load. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/** A launched browser with one page. */
export interface TestBrowser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Closes the browser (playwright kills the process) and removes the profile. Idempotent. */
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile and opens one page. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'raftkv-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_BIN,
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport: { width: 1280, height: 720 },
      timeout: 30_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  let closed: Promise<void> | null = null;
  return {
    context,
    page,
    close(): Promise<void> {
      closed ??= context.close().finally(() => rmSync(profile, { recursive: true, force: true }));
      return closed;
    },
  };
}

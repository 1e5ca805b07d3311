// The headless Chromium both runners use: a throwaway profile, autoplay
// allowed, a fake camera and microphone (what getUserMedia gets), and the
// page's console and errors collected into result.console/result.errors.
// CHROMIUM overrides the browser (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export async function openPage(result) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mediakit-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
        '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      ],
    });
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => { if (result.console.length < 50) result.console.push(m.type() + ': ' + m.text()); });
  page.on('pageerror', (e) => result.errors.push('pageerror: ' + e.message));
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { page, close };
}

// fetch URL: prints "status N: BODY" for the URL given as its first argument, or "fetch failed: WHY" (exit status 1).
// Built into a WASI 0.2 command component by componentize-js (build.sh); fetch() is wasi:http/outgoing-handler.
import { getArguments } from 'wasi:cli/environment@0.2.12';

export const run = {
  async run() {
    const url = getArguments()[1];
    try {
      const response = await fetch(url);
      const text = await response.text();
      console.log(`status ${response.status}: ${text}`);
    } catch (e) {
      console.log(`fetch failed: ${e}`);
      throw e;
    }
  },
};

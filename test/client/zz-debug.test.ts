import { after } from 'node:test';
import './scripted.test.ts';
after(() => {
  setTimeout(() => {
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
    for (const h of handles) {
      const any = h as { constructor: { name: string }; _idleTimeout?: number; _onTimeout?: { toString(): string } };
      console.log('HANDLE', any.constructor.name, any._idleTimeout, any._onTimeout?.toString().slice(0, 200));
    }
  }, 500).unref();
});

#!/usr/bin/env node
// The `closeloop` workspace bin. There is no build step (apps run their TypeScript through tsx), so the
// bin registers tsx's loader and imports the command's entry point.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');

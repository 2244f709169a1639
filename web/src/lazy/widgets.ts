// Lazy chunk: the widget manager and views (web/src/widgets/). Imports nothing from the core: the core
// hands it what it needs (see web/src/widgets/types.ts).
import { WidgetManager } from '../widgets/manager.js';
import type { WidgetManagerApi, WidgetServices } from '../widgets/types.js';

export function createManager(services: WidgetServices): WidgetManagerApi {
  return new WidgetManager(services);
}

// Entry of the action (`uses: org/akv-aks-action@v1`): the mode comes from the `mode` input.
import { dropFormDataGlobal, runAction } from './lib/index.js';

dropFormDataGlobal();
await runAction();

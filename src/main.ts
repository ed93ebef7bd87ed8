// Entry of the action (`uses: org/akv-aks-action@v1`): the mode comes from the `mode` input.
import { dropFormDataGlobal, runAction } from './pipeline/action.ts';

dropFormDataGlobal();
await runAction();

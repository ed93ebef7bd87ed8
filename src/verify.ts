// Entry of the release-gate sub-action (`uses: org/akv-aks-action/verify@v1`): verify mode only.
import { dropFormDataGlobal, runAction } from './pipeline/action.ts';

dropFormDataGlobal();
await runAction('verify');

// The action's life cycle around the pipeline: settings, run, report, exit status.
import * as runner from '../runner/index.ts';
import { getSettings, type Mode } from '../context.ts';
import { emptyReport } from '../report/model.ts';
import { annotateDiagnoses, setOutputs, writeSummary } from '../report/publish.ts';
import { logSafeLines } from '../util/escape.ts';
import { runPipeline } from './run.ts';
export { dropFormDataGlobal } from '../util/web-globals.ts';

/** Runs the action; `forcedMode` is set by sub-actions (verify/). Never throws: failures go to setFailed. */
export async function runAction(forcedMode?: Mode): Promise<void> {
  const started = Date.now();
  let report = emptyReport(forcedMode ?? 'apply', '');
  try {
    const settings = getSettings();
    if (forcedMode) settings.mode = forcedMode;
    report = emptyReport(settings.mode, settings.manifestPath);
    await runPipeline(settings, report);
  } catch (e) {
    // The error may quote a file name or an input: made inert for the log, the report and the summary.
    report.error = logSafeLines(e instanceof Error ? e.message : String(e));
    runner.setFailed(report.error);
  } finally {
    report.durationMs = Date.now() - started;
    try {
      setOutputs(report);
      annotateDiagnoses(report);
      await writeSummary(report);
    } catch (e) {
      runner.warning(`could not write the step summary: ${(e as Error).message}`);
    }
  }
}

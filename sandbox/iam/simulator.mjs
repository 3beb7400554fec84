// One long-lived Node process that evaluates IAM requests with @cloud-copilot/iam-simulate.
// Protocol: one JSON simulation per stdin line -> one JSON answer per stdout line, in order.
// AGPL-3.0: a development tool run as its own process by the sandbox, never part of a deployed asset.
import { createInterface } from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

function statements(analysis, side, kind) {
  const part = analysis?.[side]
  if (!part) return []
  return (part[kind] || []).map((s) => ({ policy: s.policyId ?? s.policyIdentifier ?? side, sid: s.explain?.identifier ?? '', effect: s.explain?.effect ?? '' }))
}

async function answer(line) {
  const input = JSON.parse(line)
  const response = await runSimulation(input.simulation, {})
  if (response.resultType === 'error') {
    return { id: input.id, error: response.errors }
  }
  const result = response.resultType === 'single' ? response.result : response.results?.[0]
  const analysis = result?.analysis
  const deciding = []
  for (const side of ['identityAnalysis', 'resourceAnalysis', 'permissionBoundaryAnalysis', 'scpAnalysis', 'rcpAnalysis']) {
    for (const kind of ['denyStatements', 'allowStatements', 'unmatchedStatements']) {
      for (const s of statements(analysis, side, kind)) deciding.push({ side: side.replace('Analysis', ''), kind: kind.replace('Statements', ''), ...s })
    }
  }
  return { id: input.id, decision: response.overallResult, deciding: deciding.filter((d) => d.kind !== 'unmatched') }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (!line.trim()) continue
  let out
  try {
    out = await answer(line)
  } catch (error) {
    out = { id: null, error: String(error?.stack || error) }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

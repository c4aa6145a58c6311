-- Argo CD health check for loadtest.dev/LoadtestRun.
-- Runs in Argo CD's gopher-lua (Lua 5.1) with the live object in the global `obj`.
-- Install it under `resource.customizations.health.loadtest.dev_LoadtestRun` in argocd-cm
-- (see argocd-cm-patch.yaml, generated from this file by hack/gen-argocd-cm-patch.py).
--
--   Progressing  the run has not ended: no status yet, the operator has not observed the
--                current generation, or phase Pending, Starting, Running or Evaluating
--   Healthy      the run ended and passed: verdict Passed (or Complete=True with Passed=True)
--   Degraded     the run ended and did not pass: verdict Failed (criteria or runners failed)
--                or Error (no verdict could be reached: no data, a missing baseline, ...)
-- The message is the controller's: the reason and what failed, or the phase and the runners.
local hs = {}

local ended_phases = { Passed = true, Failed = true, Error = true }

local function find_condition(conditions, wanted)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == wanted then
      return condition
    end
  end
  return nil
end

local function join(parts)
  local text = ""
  for _, part in ipairs(parts) do
    if part ~= nil and part ~= "" then
      if text ~= "" then
        text = text .. ": "
      end
      text = text .. part
    end
  end
  return text
end

local metadata = obj.metadata or {}
local generation = metadata.generation
local status = obj.status

if metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Test run is being deleted"
  return hs
end

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start this run"
  return hs
end

local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local complete = find_condition(status.conditions, "Complete")
local passed = find_condition(status.conditions, "Passed")
local verdict = status.verdict
if verdict == nil and ended_phases[status.phase] then
  verdict = status.phase
end
if verdict == nil and complete ~= nil and complete.status == "True" and passed ~= nil then
  if passed.status == "True" then
    verdict = "Passed"
  else
    verdict = "Failed"
  end
end

if verdict == nil or not ended_phases[verdict] then
  local phase = status.phase or "Pending"
  local runners = nil
  if status.runnersSummary ~= nil and status.runnersSummary ~= "" then
    runners = "runners " .. status.runnersSummary
  end
  hs.status = "Progressing"
  hs.message = join({ phase, runners, status.message })
  return hs
end

local reason = status.reason
local message = status.message
if (reason == nil or reason == "") and passed ~= nil then
  reason = passed.reason
end
if (message == nil or message == "") and passed ~= nil then
  message = passed.message
end

if verdict == "Passed" then
  hs.status = "Healthy"
else
  hs.status = "Degraded"
end
hs.message = join({ verdict, reason, message })
return hs

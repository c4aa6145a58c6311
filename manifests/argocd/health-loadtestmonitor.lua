-- Argo CD health check for loadtest.dev/LoadtestMonitor.
-- Runs in Argo CD's gopher-lua (Lua 5.1) with the live object in the global `obj`.
-- Install it under `resource.customizations.health.loadtest.dev_LoadtestMonitor` in argocd-cm
-- (see argocd-cm-patch.yaml, generated from this file by hack/gen-argocd-cm-patch.py).
--
--   Progressing  the operator has not observed the current generation yet, or the Ready
--                condition is missing or Unknown, or False with reason Progressing (the
--                stack's Deployments are still rolling out), or the monitor is being deleted
--   Degraded     Ready=False for any other reason: InvalidSpec (fix the spec in Git),
--                ApplyFailed, NameConflict (an object of someone else has a child's name),
--                AdminSecretMissing, ProgressDeadlineExceeded, and a pod's CrashLoopBackOff,
--                ImagePullBackOff or ErrImagePull, ...
--   Healthy      Ready=True for the current generation
local hs = {}

-- Ready=False reasons that mean "not there yet" rather than "failed".
local in_progress_reasons = { Progressing = true }

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

local function describe(condition, fallback)
  local text = fallback
  if condition.message ~= nil and condition.message ~= "" then
    text = condition.message
  end
  if condition.reason ~= nil and condition.reason ~= "" then
    text = condition.reason .. ": " .. text
  end
  return text
end

local metadata = obj.metadata or {}
local generation = metadata.generation
local status = obj.status

if metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Monitoring stack is being deleted"
  return hs
end

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe this monitor"
  return hs
end

local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = find_condition(status.conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Ready condition not reported yet"
  return hs
end

-- A condition written for an older generation says nothing about the current spec.
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Ready condition is from generation " .. tostring(ready.observedGeneration)
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Monitoring stack is ready")
elseif ready.status == "False" and in_progress_reasons[ready.reason] then
  hs.status = "Progressing"
  hs.message = describe(ready, "Monitoring stack is starting")
elseif ready.status == "False" then
  hs.status = "Degraded"
  if ready.reason == "InvalidSpec" then
    hs.message = "Invalid spec, fix it in Git: " .. (ready.message or "")
  else
    hs.message = describe(ready, "Monitoring stack failed")
  end
else
  hs.status = "Progressing"
  hs.message = describe(ready, "Monitoring stack is starting")
end
return hs

-- Run by tests/editors/test_neovim.py inside `nvim --headless`: open the script, ask Neovim's own
-- LSP client for code actions, resolve and apply the MLflow one, write the buffer, quit.
-- Arguments come from the environment: MLOPS_LSP_REPO, MLOPS_LSP_PYTHON, MLOPS_LSP_FILE.
local repo, python, file = os.getenv("MLOPS_LSP_REPO"), os.getenv("MLOPS_LSP_PYTHON"), os.getenv("MLOPS_LSP_FILE")
package.path = repo .. "/editors/nvim/?.lua;" .. package.path

local function fail(message)
  io.stderr:write("FAIL: " .. message .. "\n")
  vim.cmd("cquit 1")
end

local ok, err = pcall(function()
  local mlops = require("mlops_lsp")
  mlops.setup({ cmd = { python, "-m", "mlops_lsp", "serve" }, settings = { strategy = "codemod" } })
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()

  local client
  vim.wait(30000, function()
    for _, c in pairs(vim.lsp.buf_get_clients(bufnr)) do
      if c.name == "mlops_lsp" and c.initialized then
        client = c
      end
    end
    return client ~= nil
  end, 100)
  if not client then
    return fail("the server did not start")
  end

  local params = vim.lsp.util.make_range_params()
  params.context = { diagnostics = {}, only = { "refactor.rewrite" } }
  local response = client.request_sync("textDocument/codeAction", params, 30000, bufnr)
  if not response or response.err then
    return fail("codeAction failed: " .. vim.inspect(response))
  end
  local chosen
  for _, action in ipairs(response.result or {}) do
    if action.data and action.data.action == "tracking.mlflow" then
      chosen = action
    end
  end
  if not chosen then
    return fail("tracking.mlflow not offered: " .. vim.inspect(response.result))
  end

  local resolved = client.request_sync("codeAction/resolve", chosen, 60000, bufnr)
  if not resolved or resolved.err or not resolved.result.edit then
    return fail("resolve gave no edit: " .. vim.inspect(resolved))
  end
  vim.lsp.util.apply_workspace_edit(resolved.result.edit, client.offset_encoding or "utf-16")
  vim.cmd("write")
  client.stop()
  vim.cmd("qall!")
end)
if not ok then
  fail(tostring(err))
end

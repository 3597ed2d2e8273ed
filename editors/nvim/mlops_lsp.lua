-- mlops-lsp for Neovim: plain vim.lsp, no plugin needed (Neovim 0.7+).
--
--   require("mlops_lsp").setup({ cmd = { "mlops-lsp", "serve" }, settings = { strategy = "codemod" } })
--
-- Then, in a training script, `:lua vim.lsp.buf.code_action()` lists the MLOps actions.
local M = {}

local defaults = {
  cmd = { "mlops-lsp", "serve" },
  filetypes = { "python" },
  root_markers = { "pyproject.toml", "setup.py", ".git" },
  settings = {}, -- sent as initializationOptions and answered on workspace/configuration
}

local function root_dir(path, markers)
  local dir = vim.fn.fnamemodify(path, ":p:h")
  for _, marker in ipairs(markers) do
    local found = vim.fn.findfile(marker, dir .. ";")
    if found == "" then
      found = vim.fn.finddir(marker, dir .. ";")
    end
    if found ~= "" then
      -- findfile gives the marker file, finddir the marker directory: both live in the root
      return vim.fn.fnamemodify(found, ":p"):gsub("/$", ""):match("^(.*)/[^/]*$")
    end
  end
  return dir
end

local client_ids = {}

-- Start (or reuse) the server for a workspace root and attach it to the buffer.
function M.attach(bufnr, opts)
  local path = vim.api.nvim_buf_get_name(bufnr)
  local root = root_dir(path ~= "" and path or vim.fn.getcwd(), opts.root_markers)
  local id = client_ids[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client({
      name = "mlops_lsp",
      cmd = opts.cmd,
      root_dir = root,
      init_options = opts.settings,
      settings = { ["mlops-lsp"] = opts.settings },
    })
    client_ids[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

function M.setup(user)
  local opts = vim.tbl_deep_extend("force", defaults, user or {})
  local group = vim.api.nvim_create_augroup("mlops_lsp", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = opts.filetypes,
    callback = function(args)
      M.attach(args.buf, opts)
    end,
  })
  return opts
end

return M

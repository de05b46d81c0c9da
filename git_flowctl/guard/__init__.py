"""One validator and its callers: validate, reporting, the git hooks and their installer, the
hook fast path, the merge driver. Imports model/, repo/, history/, changes/.
"""

# Shared by the tests/cli scripts (sourced, not a test itself): count checks, name each failure, and end with one
# summary line whose exit status is the verdict.
fails=0
pass=0
check() {  # check NAME CONDITION...
  local name=$1
  shift
  if "$@"; then pass=$((pass + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
finish() {  # finish SCRIPT_NAME
  echo "$1: $pass passed, $fails failed"
  test "$fails" -eq 0
}

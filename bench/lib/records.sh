# Shared by the bench scripts (sourced): `run NAME THREADS ENGINE COMMAND...` runs one timing command and appends a
# record (model, threads, engine, the command's last JSON line or "error") to "$records"; a failure sets status=1.
run() {
  local name=$1 threads=$2 engine=$3 out
  shift 3
  echo "$name threads=$threads $engine: $*" >&2
  if out=$("$@" | grep '^{' | tail -n 1) && [[ -n "$out" ]]; then
    echo "  $out" >&2
  else
    echo "  FAILED" >&2
    out="error"
    status=1
  fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$threads" "$engine" "$out" >>"$records"
}

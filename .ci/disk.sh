# Sourced by .ci/run and .ci/newest: one line on the free disk before a venv is made, and a warning below what one
# venv of the project needs (PyTorch's CUDA build from PyPI and its NVIDIA libraries: about 6 GB).
NEED_GB=7
disk_check() {
  local free_kb
  free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
  echo "CI: $((free_kb / 1048576)) GB free on $(df -P . | awk 'NR==2 {print $6}') before $1 (one venv needs about 6 GB)"
  if [ "$free_kb" -lt $((NEED_GB * 1048576)) ]; then
    echo "CI: warning: less than $NEED_GB GB free; the install may stop with 'No space left on device'"
  fi
}

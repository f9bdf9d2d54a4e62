package tracer

//go:generate go tool bpf2go -target bpfel -type event -type counter -type event_kind -type event_flag -type filter_code -type filter_limit socktrace ../bpf/socktrace.bpf.c -- -I../bpf/headers -I../bpf -O2 -g -mcpu=v3 -Wall -Werror

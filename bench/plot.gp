# plot.gp — charts for a bench/run.sh result directory.
#
#   gnuplot -e "dir='bench/results/<timestamp>'" bench/plot.gp
#
# Reads the plot-*.dat files run.sh writes there (one row per metric:
# name, tundra median/min/max, kernel median/min/max) and writes
# throughput.png, rates.png, latency.png and, when there is a scaling
# matrix, scaling.png. Bars are medians; error bars span min..max.

if (!exists("dir")) dir = "."

# pngcairo where gnuplot has it (gnuplot-nox may not), else libgd's png.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1100,560 font ",10"
} else {
	set terminal png size 1100,560
}

set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.75 border -1
set boxwidth 0.9
set grid ytics
set key top right
set xtics rotate by -20 noenhanced
set yrange [0:*]
set bars 1.5

# Plot one of the metric files: name, tundra med/min/max, kernel med/min/max.
rows(f) = system(sprintf("grep -vc '^#' '%s' 2>/dev/null || true", f)) + 0

f = dir . "/plot-throughput.dat"
if (rows(f) > 0) {
	set output dir . "/throughput.png"
	set title "Throughput: tundra vs kernel TCP over veth (median, min..max)"
	set ylabel "Gbit/s"
	plot f using 2:3:4:xtic(1) title "tundra" lc rgb "#1f77b4", \
	     "" using 5:6:7 title "kernel (veth)" lc rgb "#ff7f0e"
}

f = dir . "/plot-rates.dat"
if (rows(f) > 0) {
	set output dir . "/rates.png"
	set title "Transaction and connection rates (median, min..max)"
	set ylabel "per second"
	plot f using 2:3:4:xtic(1) title "tundra" lc rgb "#1f77b4", \
	     "" using 5:6:7 title "kernel (veth)" lc rgb "#ff7f0e"
}

f = dir . "/plot-latency.dat"
if (rows(f) > 0) {
	set output dir . "/latency.png"
	set title "Latency (median of runs, min..max)"
	set ylabel "microseconds"
	set logscale y
	set yrange [*:*]
	plot f using 2:3:4:xtic(1) title "tundra" lc rgb "#1f77b4", \
	     "" using 5:6:7 title "kernel (veth)" lc rgb "#ff7f0e"
	unset logscale y
	set yrange [0:*]
}

f = dir . "/plot-scaling.dat"
if (rows(f) > 0) {
	set output dir . "/scaling.png"
	set title "tundra scaling: workers (w) x queues (q)"
	set ylabel "Gbit/s  |  1000 connections/s"
	plot f using 2:3:4:xtic(1) title "bulk send (Gbit/s)" lc rgb "#1f77b4", \
	     "" using ($5/1000):($6/1000):($7/1000) title "crr (1000 conn/s)" lc rgb "#2ca02c"
}

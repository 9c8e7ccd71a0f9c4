"""Published worked examples: data and the numbers their sources give (not computed here)."""

from __future__ import annotations

# Montgomery, Introduction to Statistical Quality Control (6th ed.), Table 6.3: inside
# diameter (mm) of forged piston rings, 25 samples of 5 (phase I). Examples 6.1 and 6.3:
# X̄-R: x̿ = 74.001, R̄ = 0.023, X̄ UCL = 74.014, LCL = 73.988, R UCL = 0.049, R LCL = 0;
# X̄-S: s̄ = 0.0094, X̄ UCL = 74.014, LCL = 73.988, s UCL = 0.0196, s LCL = 0;
# §6.2.5 capability with specs 74.000 ± 0.05: σ̂ = R̄/d2 = 0.0099, PCR (Cp) = 1.68.
# (The same data is the `pistonrings` data set of the R package qcc, trial samples.)
PISTON_RINGS = [
    [74.030, 74.002, 74.019, 73.992, 74.008], [73.995, 73.992, 74.001, 74.011, 74.004],
    [73.988, 74.024, 74.021, 74.005, 74.002], [74.002, 73.996, 73.993, 74.015, 74.009],
    [73.992, 74.007, 74.015, 73.989, 74.014], [74.009, 73.994, 73.997, 73.985, 73.993],
    [73.995, 74.006, 73.994, 74.000, 74.005], [73.985, 74.003, 73.993, 74.015, 73.988],
    [74.008, 73.995, 74.009, 74.005, 74.004], [73.998, 74.000, 73.990, 74.007, 73.995],
    [73.994, 73.998, 73.994, 73.995, 73.990], [74.004, 74.000, 74.007, 74.000, 73.996],
    [73.983, 74.002, 73.998, 73.997, 74.012], [74.006, 73.967, 73.994, 74.000, 73.984],
    [74.012, 74.014, 73.998, 73.999, 74.007], [74.000, 73.984, 74.005, 73.998, 73.996],
    [73.994, 74.012, 73.986, 74.005, 74.007], [74.006, 74.010, 74.018, 74.003, 74.000],
    [73.984, 74.002, 74.003, 74.005, 73.997], [74.000, 74.010, 74.013, 74.020, 74.003],
    [73.982, 74.001, 74.015, 74.005, 73.996], [74.004, 73.999, 73.990, 74.006, 74.009],
    [74.010, 73.989, 73.990, 74.009, 74.014], [74.015, 74.008, 73.993, 74.000, 74.010],
    [73.982, 73.984, 73.995, 74.017, 74.013],
]

# NIST/SEMATECH e-Handbook of Statistical Methods, §6.3.3.2 Proportions Control Charts
# (https://www.itl.nist.gov/div898/handbook/pmc/section3/pmc332.htm): 30 wafers, 50 chips
# each, misregistrations per wafer; p̄ = .2313. The same data is Montgomery's Table 7.1
# (orange-juice cans), whose trial limits are CL 0.2313, UCL 0.4102, LCL 0.0524 with
# samples 15 and 23 above the UCL.
WAFER_DEFECTIVES = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22, 8, 10, 5, 13, 11,
                    20, 18, 24, 15, 9, 12, 7, 13, 9, 6]
WAFER_CHIPS = 50

# SAS/QC User's Guide, PROC CAPABILITY Example 5.3 "Displaying a Confidence Interval for
# Cpk" (sample library CAPSPEC3): telephone amplifier gain (dB), LSL 4, USL 6; its 90 %
# confidence interval for Cpk (Bissell) is 0.328 to 0.496. SAS's Cpk uses the overall
# standard deviation: that is Ppk here.
AMPLIFIERS_DB = [
    4.54, 4.87, 4.66, 4.90, 4.68, 5.22, 4.43, 5.14, 3.07, 4.22,
    5.09, 3.41, 5.75, 5.16, 3.96, 5.37, 5.70, 4.11, 4.83, 4.51,
    4.57, 4.16, 5.73, 3.64, 5.48, 4.95, 4.57, 4.46, 4.75, 5.38,
    5.19, 4.35, 4.98, 4.87, 3.53, 4.46, 4.57, 4.69, 5.27, 4.67,
    5.03, 4.50, 5.35, 4.55, 4.05, 6.63, 5.32, 5.24, 5.73, 5.08,
    5.07, 5.42, 5.05, 5.70, 4.79, 4.34, 5.06, 4.64, 4.82, 3.24,
    4.79, 4.46, 3.84, 5.05, 5.46, 4.64, 6.13, 4.31, 4.81, 4.98,
    4.95, 5.57, 4.11, 4.15, 5.95,
]

# Montgomery, Appendix VI "Factors for constructing variables control charts" (also the
# table in Pyzdek, The Handbook for Quality Management, App. A): n -> (A2, A3, c4, B3, B4,
# d2, D3, D4).
CONSTANTS = {
    2: (1.880, 2.659, 0.7979, 0.0, 3.267, 1.128, 0.0, 3.267),
    5: (0.577, 1.427, 0.9400, 0.0, 2.089, 2.326, 0.0, 2.114),
    6: (0.483, 1.287, 0.9515, 0.030, 1.970, 2.534, 0.0, 2.004),
    10: (0.308, 0.975, 0.9727, 0.284, 1.716, 3.078, 0.223, 1.777),
    25: (0.153, 0.606, 0.9896, 0.565, 1.435, 3.931, 0.459, 1.541),
}

# Chi-square table (any statistics text, e.g. NIST e-Handbook §1.3.6.7.4): df 24.
CHI2_24 = {0.025: 12.401, 0.975: 39.364}

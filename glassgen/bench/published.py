"""Published GlassBench numbers (REFERENCE.md section 4: Jung et al., Nat. Rev. Phys. 7, 91 (2025)), to print
beside ours. Keys follow :func:`glassgen.bench.tasks.evaluate`: times and temperatures as ``%g`` strings."""

__all__ = ["GLASSBENCH"]

#: Per benchmark: ``pearson`` {predictor: {time: rho_P}} (type A, test configurations pooled), ``ceiling``
#: {time: rho_max}, ``chi4`` {predictor or "true": {time: chi_4}}, ``transfer`` {predictor: {train T: {test T: rho_P}}}.
GLASSBENCH = {
    "ka3d-T0.44": {
        "pearson": {
            "SE3": {"4120": 0.815, "130000": 0.626}, "CAGE": {"4120": 0.779}, "GlassMLP": {"4120": 0.768},
            "BOTAN": {"4120": 0.755}, "EPOT": {"4120": 0.507}, "DEN": {"4120": -0.246}, "PSI6": {"4120": -0.145},
            "SBO": {"4120": 0.068}, "SBO_CG": {"4120": 0.172},
        },
        "ceiling": {"4120": 0.943},
        "chi4": {"true": {"1300": 43.3}, "SE3": {"1300": 48.5}, "GlassMLP": {"1300": 30.1}, "CAGE": {"1300": 15.2},
                 "BOTAN": {"1300": 7.0}},
        "transfer": {
            "GlassMLP": {"0.64": {"0.44": 0.548}, "0.56": {"0.44": 0.678}, "0.5": {"0.44": 0.733},
                         "0.44": {"0.44": 0.768, "0.64": 0.494}},
            "SE3": {"0.64": {"0.44": 0.715}, "0.56": {"0.44": 0.766}, "0.5": {"0.44": 0.798},
                    "0.44": {"0.44": 0.815, "0.64": 0.442}},
            "BOTAN": {"0.44": {"0.64": 0.546}}, "CAGE": {"0.44": {"0.64": 0.472}},
        },
    },
    "ka2d-T0.3": {
        "pearson": {"BOTAN": {"1781.79": 0.723}, "SE3": {"1781.79": 0.716}, "GlassMLP": {"1781.79": 0.673},
                    "CAGE": {"1781.79": 0.652}},
    },
}

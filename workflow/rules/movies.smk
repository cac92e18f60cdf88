# Viewing movies (opt-in: movies.write_movies, or `snakemake all_movies`): CNMF-E's components (A*C), the
# background model, the movie with the neurons blacked out, and the movie before / after motion correction;
# H.264 MP4 (browsers and the report play it), time and component ids drawn on the frames.


rule movies:
    input:
        estimates=rules.evaluate.output.estimates,
        movie=rules.motion.output.memmap,
        before=rules.motion.input.movie,
        metadata=rules.convert.output.metadata,
        frames=rules.convert.output.frames,
    output:
        neural=report(
            f"{RESULTS}/{{id}}/movies/neural_activity.mp4",
            caption="../report/movie_neural.rst",
            category="Movies",
            subcategory="{id}",
            labels={"movie": "neural activity (A*C)"},
        ),
        background=report(
            f"{RESULTS}/{{id}}/movies/background.mp4",
            caption="../report/movie_background.rst",
            category="Movies",
            subcategory="{id}",
            labels={"movie": "background"},
        ),
        without_neurons=report(
            f"{RESULTS}/{{id}}/movies/without_neurons.mp4",
            caption="../report/movie_without_neurons.rst",
            category="Movies",
            subcategory="{id}",
            labels={"movie": "neurons blacked out"},
        ),
        motion=report(
            f"{RESULTS}/{{id}}/movies/motion_before_after.mp4",
            caption="../report/movie_motion.rst",
            category="Movies",
            subcategory="{id}",
            labels={"movie": "before / after motion correction"},
        ),
    log:
        f"{RESULTS}/{{id}}/logs/movies.log",
    benchmark:
        f"{RESULTS}/{{id}}/benchmarks/movies.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=120,
    params:
        p=stage_params("movies"),
    script:
        "../scripts/stage.py"


rule all_movies:
    input:
        expand(rules.movies.output, id=IDS),

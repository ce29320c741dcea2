# syntax=docker/dockerfile:1
# One image for everything Whereabouts runs in production:
#   python worker.py                      the worker (default; scale with --scale worker=N)
#   python -m whereabouts.codec_server    the codec server the Web UI decrypts payloads through
#   python starter.py FEED.csv            the MIS feed (attendance marks in, cases started)
#   python admin.py ...                   staff actions
# Runtime dependencies only, pinned by requirements.lock; no test tools, no local dev stack.

# Python 3.11 as in pyproject (requires-python >= 3.11) and the development venv; patch release
# and Debian release pinned so a rebuild gets the same base. Pin the digest too
# (python:3.11.15-slim-bookworm@sha256:...) once you have pulled it.
FROM python:3.11.15-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WHEREABOUTS_VAR_DIR=/var/lib/whereabouts

# A fixed non-root user; the var directory (MIS outbox) is the only place it may write.
RUN groupadd --system --gid 10001 whereabouts \
 && useradd --system --uid 10001 --gid whereabouts --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin whereabouts \
 && mkdir -p /var/lib/whereabouts \
 && chown whereabouts:whereabouts /var/lib/whereabouts

WORKDIR /app

# The print-ready PDF letters (WeasyPrint): Pango, HarfBuzz and fontconfig, and Debian's Noto fonts
# for every letter language (Latin, Cyrillic, Arabic, Urdu Nastaliq, Bengali, Gujarati, Gurmukhi),
# embedded in each PDF. The same list as scripts/ensure-pdf.sh.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-noto-core \
 && rm -rf /var/lib/apt/lists/*

# Exactly the locked set (--no-deps), and pip check fails the build if the lock is incomplete.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock && pip check

# The code, the letter and message templates, and the fictional example directory (for trying it
# out; a local authority mounts its own and sets WHEREABOUTS_DIRECTORY_PATH).
COPY whereabouts/ whereabouts/
COPY templates/ templates/
COPY schemas/ schemas/
COPY examples/ examples/
COPY *.py ./

# Compile once as root (the app user cannot write /app), and fail the build now, not at 3 a.m.,
# if an import is missing from the lock, or a letter's script has no font.
RUN python -m compileall -q /app \
 && python -c "import whereabouts.worker, whereabouts.codec_server, whereabouts.metrics, whereabouts.cli.starter, whereabouts.cli.admin, whereabouts.cli.directory" \
 && python -c "from whereabouts.activities.letter_pdf import render_pdf; p = render_pdf('<p>Zoë Łukasz Сергій <span lang=ar>محمد</span> <span lang=ur>اردو</span> <span lang=bn>সুমি</span> <span lang=gu>ગુજરાતી</span> <span lang=pa>ਪੰਜਾਬੀ</span></p>'); assert not p.missing, p.missing"

USER whereabouts

# 9464: worker Prometheus metrics (WHEREABOUTS_METRICS_PORT); 8081: codec server.
EXPOSE 9464 8081

CMD ["python", "worker.py"]

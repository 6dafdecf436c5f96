"""A throwaway PostgreSQL for the benchmarks: initdb in a temp folder, a free loopback port,
trust authentication (as the `postgres` system user when run as root), stopped at exit.
Debian's `postgresql` package puts the programs in /usr/lib/postgresql/<version>/bin."""
import atexit
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

USER = "imgcache"


def _bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if not initdb:
        sys.exit("PostgreSQL not found: apt-get install postgresql")
    return os.path.dirname(initdb)


class Postgres:
    def __init__(self):
        self.bin = _bin()
        self.folder = tempfile.mkdtemp(prefix="imgcache-bench-pg-")
        self.as_user = ["/usr/sbin/runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if self.as_user:
            subprocess.run(["chown", "-R", "postgres", self.folder], check=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run(self.as_user + [f"{self.bin}/initdb", "-D", f"{self.folder}/data", "-U", USER, "--auth=trust",
                                       "--encoding=UTF8", "--no-sync"], check=True, capture_output=True)
        log = open(os.path.join(self.folder, "postgres.log"), "w")
        # Durable commits (fsync on), as a production database would have them.
        self.proc = subprocess.Popen(self.as_user + [f"{self.bin}/postgres", "-D", f"{self.folder}/data", "-p", str(self.port),
                                                     "-k", self.folder, "-c", "listen_addresses=127.0.0.1",
                                                     "-c", "shared_buffers=256MB"], stdout=log, stderr=log)
        atexit.register(self.stop)
        for _ in range(300):
            if subprocess.run([f"{self.bin}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                              capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        sys.exit("PostgreSQL did not start; see " + log.name)

    def psql(self, sql, database="postgres"):
        return subprocess.run([f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", database,
                               "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True, text=True).stdout

    def create(self, name, template=None):
        """A new database (a copy of `template` when given); its postgres:// URL."""
        self.psql(f"DROP DATABASE IF EXISTS {name}")
        self.psql(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)

    def url(self, name):
        return f"postgres://{USER}@127.0.0.1:{self.port}/{name}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

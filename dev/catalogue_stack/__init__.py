"""The local test catalogue, in parts (used by dev/ckan_stack.py, which is the command).

In the order `up` uses them:

- `common`: where things live, the two CKAN lines, running a command;
- `postgres`: PostgreSQL, the catalogue's database and the DataStore's;
- `redis_server`: Redis, which holds the background job queues;
- `install`: each line's CKAN environment and its ckan.ini;
- `processes`: the web server and the supervised background-job worker;
- `supervise`: the small script that keeps a worker running;
- `seed`: users, organizations, datasets and a resource whose load failed.

Standard library only: it runs before any virtual environment exists.
"""

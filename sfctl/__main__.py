from sfctl.main import run

run()

from ivr_app.entry import main

main()
